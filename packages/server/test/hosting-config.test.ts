import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Permissions, checkPermission } from "@borgstore/core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { BUILTIN_ROLES, HostingConfigError, loadHostingConfig, parseHostingConfig } from "../src/hosting/config.js";
import { identityOf, intersect, permissionsFor } from "../src/hosting/policy.js";

const dir = mkdtempSync(join(tmpdir(), "borgstore-hosting-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EXAMPLE = `
# One host, many users.
htpasswd = "htpasswd"            # next to this file

[listen]
port = 8080

[repositories]
backend = "file:///srv/borgstore/{user}/{repo}"
auto_create = true
quota = "100G"

[roles]
append = { "" = "lr", data = "lrw", archives = "lrw", locks = "lrwD", cache = "lrwWD", config = "lrW", keys = "lr" }

[credentials]
alice-create = { user = "alice", role = "no-delete" }
alice-restore = { user = "alice", role = "read-only" }

[users.alice]
quota = "1T"

[repos."alice/laptop"]
quota = "200G"
grants = { bob = "read-only" }
`;

describe("the hosting configuration file", () => {
  it("reads the documented example: sizes in bytes, paths beside the file, built-in and own roles", async () => {
    const path = join(dir, "hosting.toml");
    writeFileSync(path, EXAMPLE);
    const config = await loadHostingConfig(path);
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(config.htpasswd).toBe(join(dir, "htpasswd"));
    expect(config.repositories).toEqual({ backend: "file:///srv/borgstore/{user}/{repo}", autoCreate: true, quota: 100 * 1024 ** 3 });
    expect(config.users.alice?.quota).toBe(1024 ** 4);
    expect(config.repos["alice/laptop"]).toEqual({ quota: 200 * 1024 ** 3, grants: { bob: "read-only" } });
    expect(Object.keys(config.roles).sort()).toEqual(["append", "no-delete", "owner", "read-only", "write-only"]);
    expect(config.roles["no-delete"]).toEqual(BUILTIN_ROLES["no-delete"]);
  });

  it("refuses a file it cannot use, naming every problem by its key", () => {
    const refused = (text: string) => {
      try {
        parseHostingConfig(text, dir);
      } catch (err) {
        expect(err).toBeInstanceOf(HostingConfigError);
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    const base = (extra: string) => `htpasswd = "h"\n[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{user}/{repo}"\n${extra}`;
    // A typo is an error, not a silently ignored key (a quota that never applies).
    expect(refused(base("quotaa = 5"))).toMatch(/repositories: unknown key quotaa/);
    expect(refused(base('quota = "10X"'))).toMatch(/repositories\.quota: not a size: "10X"/);
    expect(refused(base('[credentials]\nbob = { user = "bob", role = "admin" }'))).toMatch(/credentials\.bob\.role: no role "admin" \(known: owner, /);
    expect(refused(base('[repos."alice/laptop"]\ngrants = { bob = "nope" }'))).toMatch(/grants\.bob: no role "nope"/);
    expect(refused(base('[repos."alice"]\nquota = 1'))).toMatch(/a repository is named "user\/repo"/);
    // Names become path segments: nothing that could climb out of the template's folder.
    expect(refused(base('[users.".."]\nquota = 1'))).toMatch(/a user name is 1–64 of/);
    expect(refused(base('[credentials]\nx = { user = "../bob", role = "owner" }'))).toMatch(/credentials\.x\.user: a user name/);
    expect(refused('htpasswd = "h"\n[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{user}"')).toMatch(/must contain \{user\} and \{repo\}/);
    expect(refused('htpasswd = "h"\n[listen]\nport = 70000\n[repositories]\nbackend = "file:///b/{user}/{repo}"\n[roles]\nr = "lr"')).toMatch(
      /listen\.port: .*; roles\.r: /,
    );
    expect(refused("[listen\nport = 1")).toMatch(/^config:1:\d+: not TOML/);
    expect(refused("")).toMatch(/listen: .*htpasswd: .*repositories: /);
  });

  it("refuses a state_dir inside (or containing) the folder a file:// template makes users' repositories in", () => {
    const refused = (backend: string, stateDir?: string, baseDir = "/srv/borgstore") => {
      const text = `htpasswd = "h"\n${stateDir ? `state_dir = "${stateDir}"\n` : ""}[listen]\nport = 1\n[repositories]\nbackend = "${backend}"\n`;
      try {
        parseHostingConfig(text, baseDir);
      } catch (err) {
        expect(err).toBeInstanceOf(HostingConfigError);
        return (err as Error).message;
      }
      return "accepted";
    };
    // The default "state" beside the config is the repositories' folder of a login named "state".
    expect(refused("file:///srv/borgstore/{user}/{repo}")).toMatch(/state_dir: \/srv\/borgstore\/state is inside \/srv\/borgstore, where repositories\.backend makes/);
    expect(refused("file:///srv/borgstore/{user}/{repo}", "/srv/borgstore/state/deeper")).toMatch(/state_dir: .* is inside/);
    expect(refused("file:///srv/borgstore/u-{user}/{repo}", "/srv/borgstore/u-state")).toMatch(/state_dir: .* is inside/);
    expect(refused("file:///srv/borgstore/repos/{user}/{repo}", "/srv")).toMatch(/state_dir: \/srv contains \/srv\/borgstore\/repos/);
    expect(refused("file:///srv/{repo}/{user}", "/srv/x")).toMatch(/state_dir: .* is inside/);
    // The documented layout, and other backends, are fine.
    expect(refused("file:///srv/borgstore/repos/{user}/{repo}")).toBe("accepted");
    expect(refused("file:///srv/borgstore/repos/{user}/{repo}", "/srv/borgstore/repos-state")).toBe("accepted");
    expect(refused("s3:key:secret@http://127.0.0.1:1/bucket/{user}/{repo}")).toBe("accepted");
  });

  it("refuses hostile text with a HostingConfigError, never anything else", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(() => parseHostingConfig(text, dir)).toThrow(HostingConfigError);
      }),
      { numRuns: 200 },
    );
  });
});

describe("who may do what", () => {
  const config = parseHostingConfig(EXAMPLE, dir);

  it("a login is its listed credential, else its own user as owner; other logins have no identity", () => {
    expect(identityOf(config, "alice")).toEqual({ login: "alice", user: "alice", role: "owner" });
    expect(identityOf(config, "alice-create")).toEqual({ login: "alice-create", user: "alice", role: "no-delete" });
    expect(identityOf(config, "Alice")).toBeUndefined();
    expect(identityOf(config, "../alice")).toBeUndefined();
    expect(identityOf(config, "constructor")).toEqual({ login: "constructor", user: "constructor", role: "owner" });
    expect(identityOf(config, "__proto__")).toBeUndefined();
  });

  it("own repositories by role; others' only by grant, and never beyond the credential's role", () => {
    const alice = identityOf(config, "alice");
    const create = identityOf(config, "alice-create");
    const bob = identityOf(config, "bob");
    if (!alice || !create || !bob) throw new Error("no identity");
    expect(permissionsFor(config, alice, "alice", "laptop")).toBeUndefined(); // owner: everything
    expect(permissionsFor(config, create, "alice", "laptop")).toEqual(BUILTIN_ROLES["no-delete"]);
    expect(permissionsFor(config, bob, "alice", "laptop")).toEqual(BUILTIN_ROLES["read-only"]);
    expect(permissionsFor(config, bob, "alice", "desktop")).toBe("denied");
    expect(permissionsFor(config, alice, "bob", "laptop")).toBe("denied");
    // A read-only credential of bob's stays read-only even where bob was granted more.
    const shared = parseHostingConfig(`${EXAMPLE.replace('grants = { bob = "read-only" }', 'grants = { bob = "owner" }')}`, dir);
    const bobRestore = { login: "bob-restore", user: "bob", role: "read-only" };
    const granted = permissionsFor(shared, bobRestore, "alice", "laptop");
    expect(() => checkPermission(granted as Permissions, "data/00/ab", "w")).toThrow(/permissions 'w' required/);
    checkPermission(granted as Permissions, "data/00/ab", "r");
  });

  it("an intersection allows exactly what both sides allow, for any name and letter", () => {
    const namespace = fc.constantFrom("", "data", "data/00", "archives", "locks", "config", "data/00/ab");
    const letters = fc.subarray([..."lrwWD"]).map((l) => l.join(""));
    const permissions = fc.option(fc.dictionary(namespace, letters, { minKeys: 1 }), { nil: undefined });
    const allows = (p: Permissions | undefined, name: string, letter: string) => {
      try {
        checkPermission(p, name, letter);
        return true;
      } catch {
        return false;
      }
    };
    fc.assert(
      fc.property(permissions, permissions, namespace, fc.constantFrom(..."lrwWD"), (a, b, name, letter) => {
        expect(allows(intersect(a, b), name, letter)).toBe(allows(a, name, letter) && allows(b, name, letter));
      }),
      { numRuns: 1000 },
    );
  });
});
