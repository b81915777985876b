import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { openHostingServer } from "../src/hosting/hosting-server.js";
import { Logger } from "../src/logger.js";
import { tempDir } from "./helpers.js";
import { announcedUpload, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-hosting-");
afterAll(() => dir.remove());
let cells = 0;

/** A fresh host folder: htpasswd with alice, bob and alice's restricted logins; config with `extra`. */
function host(extra = "", backend?: string, repositories = ""): { folder: string; config: string } {
  const folder = join(dir.path, `host${++cells}`);
  mkdirSync(folder);
  writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", bob: "bpw", "alice-create": "cpw", "alice-read": "rpw" });
  const config = writeHostingConfig(
    folder,
    backend ?? `file://${folder}/repos/{user}/{repo}`,
    `[credentials]\nalice-create = { user = "alice", role = "no-delete" }\nalice-read = { user = "alice", role = "read-only" }\n${extra}`,
    repositories,
  );
  return { folder, config };
}

describe("borgstore-server-rest --config", () => {
  it("refuses to start on a configuration it cannot use, naming each problem by its key (exit 2)", async () => {
    const { config } = host('[users.alice]\nquota = "10X"\n[repos."alice/laptop"]\ngrants = { bob = "admin" }');
    const broken = startHosting(config);
    await expect(broken).rejects.toThrow(/exited with 2 before listening:[\s\S]*users\.alice\.quota: not a size/);
    const missing = join(dir.path, "no-htpasswd");
    mkdirSync(missing);
    writeFileSync(join(missing, "hosting.toml"), 'htpasswd = "nothere"\n[listen]\nport = 0\n[repositories]\nbackend = "file:///x/{user}/{repo}"\n');
    await expect(startHosting(join(missing, "hosting.toml"))).rejects.toThrow(/exited with 2 before listening:[\s\S]*htpasswd: .*nothere/);
    const { config: unknownKind } = host("", "nosuchscheme:///x/{user}/{repo}");
    await expect(startHosting(unknownKind)).rejects.toThrow(/exited with 2 before listening:[\s\S]*repositories\.backend: /);
    // Asked for TLS with certificate files it cannot read: refused, never served in plain HTTP.
    const { config: tls } = host('[tls]\ncert = "c.pem"\nkey = "k.pem"');
    await expect(startHosting(tls)).rejects.toThrow(/exited with 2 before listening:[\s\S]*tls: .*c\.pem/);
    // The default state folder beside the config would be the repositories' folder of a login named "state".
    const { folder, config: stateInRepos } = host("", "file://DIR/{user}/{repo}");
    writeFileSync(stateInRepos, readFileSync(stateInRepos, "utf8").replace("file://DIR/", `file://${folder}/`));
    await expect(startHosting(stateInRepos)).rejects.toThrow(/exited with 2 before listening:[\s\S]*state_dir: .*state is inside /);
    // Node's recursive mkdir spins for ever under /proc: the start fails at once instead.
    const { config: procState } = host("");
    writeFileSync(procState, `state_dir = "/proc/borgstore-x/y"\n${readFileSync(procState, "utf8")}`);
    await expect(startHosting(procState)).rejects.toThrow(/exited with 2 before listening:[\s\S]*state_dir: .*\/proc\/borgstore-x/);
  });

  it("warns at start about a world-writable htpasswd file and plain HTTP on a non-loopback address", async () => {
    const { folder, config } = host("");
    chmodSync(join(folder, "htpasswd"), 0o666);
    writeFileSync(config, readFileSync(config, "utf8").replace("[listen]\n", '[listen]\nhost = "0.0.0.0"\n'));
    let log = "";
    const logger = new Logger("warning", new Writable({ write: (chunk, _e, done) => done(void (log += chunk)) }));
    // Opened only, never listening: the warnings come before anything listens.
    const hosting = await openHostingServer(config, logger);
    await hosting.shutdown();
    logger.flush();
    expect(log).toMatch(/htpasswd: .* is writable by every local user/);
    expect(log).toMatch(/listen\.host 0\.0\.0\.0 is not a loopback address .* plain HTTP/);
    chmodSync(join(folder, "htpasswd"), 0o640);
    writeFileSync(config, readFileSync(config, "utf8").replace('host = "0.0.0.0"', 'host = "127.0.0.1"'));
    log = "";
    await (await openHostingServer(config, logger)).shutdown();
    logger.flush();
    expect(log).toBe("");
  });

  it("answers 401 without or with wrong credentials, 404 for a repository the login may not see, 403 for a forbidden permission", async () => {
    const { config } = host('[repos."alice/shared"]\ngrants = { bob = "read-only" }');
    const server = await startHosting(config);
    try {
      const { port } = server;
      expect((await rawRequest(port, "POST", "/alice/laptop/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      expect((await rawRequest(port, "POST", "/alice/shared/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      const value = Buffer.from("hello");
      expect((await rawRequest(port, "POST", "/alice/laptop/config/x", { login: "alice:apw", body: value })).status).toBe(200);
      expect((await rawRequest(port, "GET", "/alice/laptop/config/x")).status).toBe(401);
      expect((await rawRequest(port, "GET", "/alice/laptop/config/x", { login: "alice:wrong" })).status).toBe(401);
      expect((await rawRequest(port, "GET", "/alice/laptop/config/x", { login: "nobody:apw" })).status).toBe(401);
      // bob: not his repository and no grant → 404, the same whether it exists or not.
      const hidden = await rawRequest(port, "GET", "/alice/laptop/config/x", { login: "bob:bpw" });
      const absent = await rawRequest(port, "GET", "/alice/nosuchrepo/config/x", { login: "bob:bpw" });
      expect([hidden.status, absent.status]).toEqual([404, 404]);
      expect(hidden.body).toBe(absent.body);
      // A grant gives bob read, never write.
      expect((await rawRequest(port, "GET", "/alice/shared/", { login: "bob:bpw" })).status).toBe(200);
      expect((await rawRequest(port, "POST", "/alice/shared/data/x", { login: "bob:bpw", body: value })).status).toBe(403);
      // alice's read-only login reads, cannot write; her own data is hers.
      expect((await rawRequest(port, "GET", "/alice/laptop/config/x", { login: "alice-read:rpw" })).body).toBe("hello");
      expect((await rawRequest(port, "POST", "/alice/laptop/data/y", { login: "alice-read:rpw", body: value })).status).toBe(403);
      expect((await rawRequest(port, "DELETE", "/alice/laptop/config/x", { login: "alice-create:cpw" })).status).toBe(403);
      // bob's own repository is his.
      expect((await rawRequest(port, "POST", "/bob/home/?cmd=create", { login: "bob:bpw" })).status).toBe(200);
      expect((await rawRequest(port, "GET", "/bob/home/", { login: "bob:bpw" })).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("append-only survives retries: without W, the identical value stored again succeeds, a different one is refused (whole and streamed bodies)", async () => {
    const { folder, config } = host();
    const server = await startHosting(config);
    try {
      const { port } = server;
      expect((await rawRequest(port, "POST", "/alice/laptop/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      const store = (name: string, body: Buffer) => rawRequest(port, "POST", `/alice/laptop/${name}`, { login: "alice-create:cpw", body });
      // 17 MiB goes the streamed way (above the server's 16 MiB whole-body limit).
      for (const [name, size] of [
        ["data/small", 1000],
        ["data/large", 17 * 1024 * 1024],
      ] as const) {
        const value = Buffer.alloc(size, 1);
        expect((await store(name, value)).status).toBe(200);
        expect((await store(name, value)).status, `${name}: the retry of the identical value`).toBe(200);
        const other = Buffer.from(value);
        other[size - 1] = 2;
        const refused = await store(name, other);
        expect(refused.status).toBe(403);
        expect(refused.body).toContain(`One of permissions 'W' required for '${name}'`);
        expect((await store(name, Buffer.alloc(size + 1, 1))).status).toBe(403);
        expect(readFileSync(join(folder, "repos", "alice", "laptop", name)).equals(value)).toBe(true);
      }
      // Different values racing for one new name (all announced, then all sent at once): one is
      // stored, the others are refused.
      const racing = await Promise.all(
        Array.from({ length: 16 }, (_, i) => announcedUpload(port, "/alice/laptop/data/raced", "alice-create:cpw", Buffer.alloc(5000, i), 300)),
      );
      expect([...racing].sort()).toEqual([200, ...Array(15).fill(403)]);
      const winner = racing.indexOf(200);
      expect(readFileSync(join(folder, "repos", "alice", "laptop", "data", "raced")).equals(Buffer.alloc(5000, winner))).toBe(true);
      // The owner may still overwrite.
      expect((await rawRequest(port, "POST", "/alice/laptop/data/small", { login: "alice:apw", body: Buffer.from("new") })).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 30_000);

  it("a defrag stores its result as a store would: no overwrite without W, its size reserved against the quota, its bytes counted", async () => {
    const { folder, config } = host("", undefined, "quota = 30000");
    const server = await startHosting(config);
    try {
      const { port } = server;
      const login = "alice-create:cpw";
      expect((await rawRequest(port, "POST", "/alice/laptop/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      expect((await rawRequest(port, "POST", "/alice/laptop/data/a", { login, body: Buffer.alloc(10_000, 1) })).status).toBe(200);
      expect((await rawRequest(port, "POST", "/alice/laptop/data/b", { login, body: Buffer.alloc(10_000, 2) })).status).toBe(200);
      const defrag = (target: string, sources: Array<[string, number, number]>) =>
        rawRequest(port, "POST", `/alice/laptop/?cmd=defrag&target=${target}`, { login, body: Buffer.from(JSON.stringify(sources)) });
      // Naming an existing object as the target would overwrite it: refused without W.
      expect((await defrag("data/a", [["data/b", 0, 100]])).status).toBe(403);
      expect(readFileSync(join(folder, "repos", "alice", "laptop", "data", "a")).equals(Buffer.alloc(10_000, 1))).toBe(true);
      // 20,000 stored: 15,000 more do not fit the 30,000 of the repository.
      expect((await defrag("data/c", [["data/a", 0, 10_000], ["data/b", 0, 5_000]])).status).toBe(507);
      expect((await defrag("data/c", [["data/a", 0, 5_000], ["data/b", 0, 5_000]])).status).toBe(200);
      const quota = await rawRequest(port, "POST", "/alice/laptop/?cmd=quota", { login });
      expect(JSON.parse(quota.body)).toEqual({ limit: 30_000, usage: 30_000 });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it("makes a repository on create only with auto_create", async () => {
    const { folder } = host();
    const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`);
    writeFileSync(config, readFileSync(config, "utf8").replace("auto_create = true", "auto_create = false"));
    const server = await startHosting(config);
    try {
      expect((await rawRequest(server.port, "POST", "/alice/laptop/?cmd=create", { login: "alice:apw" })).status).toBe(403);
      // The reference's answer for a store that does not exist.
      expect((await rawRequest(server.port, "GET", "/alice/laptop/", { login: "alice:apw" })).status).toBe(410);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

const peer = requireReferencePeer("the reference's Python client through a hosting-mode repository", ["requests"]);

describe.skipIf(!peer)("the unmodified Python client against a tenant repository", () => {
  it("creates, stores, lists, loads and deletes through /alice/laptop/, and bob cannot reach it", async () => {
    const { config } = host('[users.alice]\nquota = "1G"');
    const server = await startHosting(config);
    try {
      const code = `
import sys
from borgstore.store import Store
from borgstore.backends.errors import BackendDoesNotExist
levels = {"config/": {"levels": [0]}, "data/": {"levels": [2]}}
store = Store(sys.argv[1], config=levels)
store.create()
with store:
    for i in range(40):
        store.store("data/%064x" % i, bytes([i]) * (i * 100))
    store.store("config/main", b"cfg")
    store.delete("data/%064x" % 3)
with store:
    names = sorted(info.name for info in store.list("data"))
    assert len(names) == 39, names
    assert store.load("data/%064x" % 7) == bytes([7]) * 700
    assert store.load("config/main") == b"cfg"
try:
    with Store(sys.argv[2], config=levels) as bobs:
        bobs.load("config/main")
    print("FAIL bob read alice's repository")
except Exception as e:
    print("bob refused:", type(e).__name__)
print("ok")
`;
      const run = await runReferencePython(peer as NonNullable<typeof peer>, code, {
        args: [`http://alice:apw@127.0.0.1:${server.port}/alice/laptop/`, `http://bob:bpw@127.0.0.1:${server.port}/alice/laptop/`],
        timeoutMs: 60_000,
      });
      expect(run.stdout.toString(), run.stderr).toMatch(/bob refused: \w+\nok\n$/);
      const quota = await rawRequest(server.port, "POST", "/alice/laptop/?cmd=quota", { login: "alice:apw" });
      // 39 objects of i*100 bytes (i ≠ 3) plus "cfg".
      const bytes = Array.from({ length: 40 }, (_, i) => (i === 3 ? 0 : i * 100)).reduce((a, b) => a + b, 0) + 3;
      expect(JSON.parse(quota.body)).toEqual({ limit: 1024 ** 3, usage: bytes });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});
