import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Permissions, checkPermission } from "@borgstore/core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { BUILTIN_ROLES, DEFAULT_FAIR_SHARE, type HostingConfig, HostingConfigError, loadHostingConfig, parseHostingConfig } from "../src/hosting/config.js";
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

  // The file's check refuses a role that is not defined, so only a config built otherwise (or a
  // reload racing a lookup) has one: permissionsFor must still deny it rather than read it as a mapping.
  it("denies a login whose role is not defined, and a grant of a role that is not, never a mapping made of the word", () => {
    const { owner: _owner, ...withoutOwner } = config.roles;
    const unknownOwn: HostingConfig = { ...config, roles: withoutOwner };
    const alice = { login: "alice", user: "alice", role: "owner" };
    expect(permissionsFor(unknownOwn, alice, "alice", "laptop")).toBe("denied");
    // bob, an owner himself, granted a role that is not defined in alice's repository.
    const badGrant: HostingConfig = { ...config, repos: { "alice/laptop": { grants: { bob: "no-such-role" } } } };
    const bob = { login: "bob", user: "bob", role: "owner" };
    expect(permissionsFor(badGrant, bob, "alice", "laptop")).toBe("denied");
    expect(permissionsFor(badGrant, { login: "bob-restore", user: "bob", role: "read-only" }, "alice", "laptop")).toBe("denied");
    // A credential of an undefined role in a repository its user was granted.
    const bobRestore = { login: "bob-restore", user: "bob", role: "no-such-role" };
    expect(permissionsFor(config, bobRestore, "alice", "laptop")).toBe("denied");
  });

  it("denies a user without a grant even where a role is named \"undefined\"", () => {
    const odd: HostingConfig = { ...config, roles: { ...config.roles, undefined: { "": "lrwWD" } } };
    const carol = { login: "carol", user: "carol", role: "owner" };
    expect(permissionsFor(odd, carol, "alice", "laptop")).toBe("denied");
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

// The details of reading the file: each setting where HostingConfig keeps it, and the messages.
describe("the hosting configuration's details", () => {
  const base = (extra = "", top = "") =>
    `htpasswd = "h"\n${top}[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{user}/{repo}"\n${extra}`;
  const refused = (text: string): string => {
    try {
      parseHostingConfig(text, dir);
    } catch (err) {
      expect(err).toBeInstanceOf(HostingConfigError);
      expect((err as Error).name).toBe("HostingConfigError");
      return (err as Error).message;
    }
    throw new Error("accepted");
  };

  it("keeps fair-share limits set in [fair_share] over the defaults, and a user's own limits only where set", () => {
    expect(parseHostingConfig(base(), dir).fairShare).toEqual(DEFAULT_FAIR_SHARE);
    const config = parseHostingConfig(
      base('[fair_share]\nmax_in_flight = 3\nmax_queued = 0\nbandwidth = "64k"\n[users.bob]\nmax_queued = 9\n[users.carol]\nbandwidth = 65536\nmax_in_flight = 2\n'),
      dir,
    );
    expect(config.fairShare).toEqual({ maxInFlight: 3, maxQueued: 0, bandwidth: 65536 });
    expect(config.users.bob).toStrictEqual({ quota: undefined, maxQueued: 9 });
    expect(config.users.carol).toStrictEqual({ quota: undefined, maxInFlight: 2, bandwidth: 65536 });
    expect(refused(base("[fair_share]\nbandwidth = 65535\n"))).toMatch(/fair_share\.bandwidth: at least 64k \(bytes per second\)/);
  });

  it("reads a size given as a number as bytes, and names why a size string is refused", () => {
    expect(parseHostingConfig(base("quota = 1000\n"), dir).repositories.quota).toBe(1000);
    expect(refused(base('quota = "12Q"\n'))).toMatch(/^config: repositories\.quota: .+/);
    expect(refused(base('quota = "12Q"\n'))).not.toMatch(/repositories\.quota: $/);
  });

  it("joins several problems with '; ' and names nested keys that are not plain names in quotes", () => {
    const message = refused(base('[repos."alice/laptop"]\nquota = "x"\ngrants = { alice = "read-only", bob = "nope" }\n'));
    expect(message).toMatch(/^config: repos\."alice\/laptop"\.quota: /);
    const problems = refused(base('[repos."alice/laptop"]\ngrants = { alice = "read-only", bob = "nope" }\n'));
    expect(problems).toBe(
      'config: repos."alice/laptop".grants.alice: alice owns this repository (limit a login with a role under [credentials]); ' +
        'repos."alice/laptop".grants.bob: no role "nope" (known: owner, no-delete, write-only, read-only)',
    );
    expect(refused(base("[listen2]\nx = 1\n", "a = 1\nb = 2\n"))).toMatch(/^config: \(top level\): unknown keys a, b, listen2$/);
    expect(refused(base("", "a = 1\n"))).toBe("config: (top level): unknown key a");
    expect(refused(base('[repos."alice/laptop/x"]\nquota = 1\n'))).toBe('config: repos."alice/laptop/x": a repository is named "user/repo"');
    expect(refused(base('[repos."alice/"]\nquota = 1\n'))).toMatch(/a repository is named "user\/repo"/);
    expect(refused(base('[repos."/laptop"]\nquota = 1\n'))).toMatch(/a repository is named "user\/repo"/);
    // The first line of the parser's message, not a part of it.
    expect(refused("[listen\nport = 1")).toMatch(/^config:1:\d+: not TOML: [^\n]{10,}$/);
  });

  it("refuses an empty role, and a backend with {user} and {repo} in one path segment", () => {
    expect(refused(base("[roles]\nnothing = {}\n"))).toMatch(/roles\.nothing: an empty role would allow everything/);
    expect(parseHostingConfig(base('[roles]\nnothing = { "" = "" }\n'), dir).roles.nothing).toEqual({ "": "" });
    expect(refused('htpasswd = "h"\n[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{user}-{repo}"\n')).toMatch(
      /repositories\.backend: \{user\} and \{repo\} must be in different path segments/,
    );
    expect(refused('htpasswd = "h"\n[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{repo}/x"\n')).toMatch(/must contain \{user\} and \{repo\}/);
    expect(parseHostingConfig('htpasswd = "h"\n[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{user}/x/{repo}"\n', dir).repositories.backend).toBe(
      "file:///b/{user}/x/{repo}",
    );
  });

  it("keeps state_url, tls, metrics and the audit log, files resolved beside the config", () => {
    const config = parseHostingConfig(
      base(
        '[tls]\ncert = "c.pem"\nkey = "/k.pem"\n[metrics]\nport = 9\n[log]\nformat = "json"\naudit = "audit.log"\n',
        'state_url = "s3:k:s@http://127.0.0.1:1/bucket/state"\n',
      ),
      dir,
    );
    expect(config.stateUrl).toBe("s3:k:s@http://127.0.0.1:1/bucket/state");
    expect(config.tls).toEqual({ cert: join(dir, "c.pem"), key: "/k.pem" });
    expect(config.metrics).toEqual({ host: "127.0.0.1", port: 9, allowRemote: false, maxLabelPairs: 10_000 });
    expect(config.log).toEqual({ format: "json", audit: join(dir, "audit.log") });
    const plain = parseHostingConfig(base(), dir);
    expect(plain.log).toStrictEqual({ format: "text" });
    expect(["stateUrl", "tls", "metrics"].filter((key) => key in plain)).toEqual([]);
  });

  it("names a state_url inside the key prefix of the users' repositories under state_url", () => {
    const text = 'htpasswd = "h"\nstate_url = "s3:k:s@http://h/bucket/state"\n[listen]\nport = 1\n[repositories]\nbackend = "s3:k:s@http://h/bucket/{user}/{repo}"\n';
    expect(refused(text)).toMatch(/^config: state_url: it is inside the key prefix where repositories\.backend makes users' repositories/);
  });

  it("refuses a delete grace with a shared state_url, naming each table that sets one", () => {
    const shared = 'state_url = "s3:k:s@http://127.0.0.1:1/bucket/state"\n';
    const message = refused(
      base('delete_grace = "1d"\n[users.bob]\ndelete_grace = "2d"\n[users.carol]\ndelete_grace = "off"\n[repos."bob/x"]\ndelete_grace = "3d"\n', shared),
    );
    expect(message.match(/[^ ;]+\.delete_grace: not with state_url/g)).toEqual([
      "repositories.delete_grace: not with state_url",
      "users.bob.delete_grace: not with state_url",
      'repos."bob/x".delete_grace: not with state_url',
    ]);
    expect(message).toContain("where another replica taking over the user neither counts nor restores them");
    expect(parseHostingConfig(base('delete_grace = "off"\n', shared), dir).stateUrl).toBeDefined();
    const grace = parseHostingConfig(base('delete_grace = "1d"\n[users.bob]\ndelete_grace = "2d"\n[repos."bob/x"]\nprotect = ["data"]\n'), dir);
    expect(grace.repositories.deleteGrace).toEqual({ graceMs: 86_400_000 });
    expect(grace.users.bob?.deleteGrace).toEqual({ graceMs: 2 * 86_400_000 });
    expect(grace.repos["bob/x"]?.deleteGrace).toEqual({ protect: ["data/"] });
  });

  it("checks state_dir only against a file:// template with an absolute folder before its first placeholder", () => {
    const at = (backend: string, stateDir: string) => {
      try {
        parseHostingConfig(`htpasswd = "h"\nstate_dir = "${stateDir}"\n[listen]\nport = 1\n[repositories]\nbackend = "${backend}"\n`, "/srv");
        return "accepted";
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(at("s3:k:s@http://127.0.0.1:1/b/{user}/{repo}", "/b")).toBe("accepted");
    expect(at("rest:file:///b/{user}/{repo}", "/b")).toBe("accepted");
    expect(at("file://{user}/{repo}", "/srv/state")).toBe("accepted");
    expect(at("file:///b/{user}/{repo}", "/b/state")).toMatch(/state_dir: \/b\/state is inside \/b/);
    // The first placeholder decides, wherever it stands.
    expect(at("file:///b/{repo}/c/{user}", "/b/x")).toMatch(/state_dir: \/b\/x is inside \/b/);
    expect(at("file:///bb/{user}/{repo}", "/b")).toBe("accepted");
    expect(at("file:///b/{user}/{repo}", "/b")).toMatch(/state_dir: \/b is inside \/b,/);
    // Another scheme whose rest reads as an absolute path is not checked.
    expect(at("memory:/b/{user}/{repo}", "/b/state")).toBe("accepted");
    // Nor a template whose folder is relative (the backend makes nothing of it).
    expect(at("file://rel/{user}/{repo}", join(process.cwd(), "rel", "state"))).toBe("accepted");
    expect(at("file:///b/{user}/{repo}", "/bb")).toBe("accepted");
  });

  it("names the file it cannot read", async () => {
    const missing = join(dir, "missing.toml");
    await expect(loadHostingConfig(missing)).rejects.toThrow(new RegExp(`^${missing}: ENOENT`));
  });
});
