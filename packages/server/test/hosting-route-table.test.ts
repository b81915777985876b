import { describe, expect, it } from "vitest";
import { parseHostingConfig } from "../src/hosting/config.js";
import { RouteTable, limitsOf } from "../src/hosting/route-table.js";

// The per-configuration cache of logins and their access: the answers must be the configuration's,
// worked out once per login and repository, and the cache of one login bounded.

const config = parseHostingConfig(
  'htpasswd = "h"\n[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{user}/{repo}"\nquota = "1k"\n' +
    '[users.alice]\nquota = "10k"\n[repos."alice/big"]\nquota = "5k"\n[repos."alice/shared"]\ngrants = { bob = "read-only" }\n',
  "/etc/b",
);

describe("hosting route table", () => {
  it("signs a login in once per configuration: the same answer object each time, undefined (remembered) for no identity", () => {
    const table = new RouteTable(config);
    const alice = table.signedIn("alice");
    expect(alice?.identity).toEqual({ login: "alice", user: "alice", role: "owner" });
    expect(alice?.fairShare).toEqual({ maxInFlight: 16, maxQueued: 256, bandwidth: undefined });
    expect(table.signedIn("alice")).toBe(alice);
    expect(table.signedIn("Not A User")).toBeUndefined();
    expect(table.signedIn("Not A User")).toBeUndefined();
    // A new configuration, a new table: its own answers.
    expect(new RouteTable(config).signedIn("alice")).not.toBe(alice);
  });

  it("works out a repository's access once per login, from the configuration: permissions, limits and label", () => {
    const table = new RouteTable(config);
    const bob = table.signedIn("bob");
    if (!bob) throw new Error("bob has no identity");
    const shared = table.access(bob, "alice/shared", "alice", "shared");
    expect(shared.label).toBe("alice/shared");
    expect(shared.permissions).not.toBe("denied");
    expect(shared.limits).toEqual({ repo: 1024, user: 10 * 1024 });
    expect(table.access(bob, "alice/shared", "alice", "shared")).toBe(shared);
    expect(table.access(bob, "alice/big", "alice", "big").permissions).toBe("denied");
    expect(bob.access.size).toBe(2);
  });

  it("forgets a login's remembered repositories once it holds 4096, not before", () => {
    const table = new RouteTable(config);
    const bob = table.signedIn("bob");
    if (!bob) throw new Error("bob has no identity");
    for (let i = 0; i < 4096; i++) table.access(bob, `carol/r${i}`, "carol", `r${i}`);
    expect(bob.access.size).toBe(4096);
    table.access(bob, "carol/r0", "carol", "r0");
    expect(bob.access.size).toBe(4096);
    table.access(bob, "carol/new", "carol", "new");
    expect(bob.access.size).toBe(1);
    expect(bob.access.has("carol/new")).toBe(true);
  });

  it("limitsOf: a repository's own quota over the default, the user's own, none where none is set", () => {
    expect(limitsOf(config, "alice", "big")).toEqual({ repo: 5 * 1024, user: 10 * 1024 });
    expect(limitsOf(config, "alice", "other")).toEqual({ repo: 1024, user: 10 * 1024 });
    expect(limitsOf(config, "bob", "x")).toEqual({ repo: 1024, user: undefined });
  });
});
