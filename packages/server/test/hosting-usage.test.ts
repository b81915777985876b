import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import type { UsageReport } from "../src/hosting/usage-report.js";
import { Logger } from "../src/logger.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

/** Issue 16, usage without walking: `GET /_usage` answers the signed-in user's figures from memory and the usage records. */

const dir = tempDir("borgstore-hosting-usage-");
afterAll(() => dir.remove());


const SETTINGS = `[credentials.alice-ro]
user = "alice"
role = "read-only"

[users.alice]
quota = 1000000

[repos."alice/laptop"]
quota = 300000

[repos."bob/shared"]
grants = { alice = "read-only" }
`;

async function start(folder: string, options: { idleMs?: number; logger?: Logger } = {}): Promise<{ hosting: HostingServer; port: number }> {
  const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, SETTINGS, "quota = 500000");
  return listenHosting(config, { idleMs: options.idleMs }, options.logger);
}

function prepare(name: string): string {
  const folder = join(dir.path, name);
  mkdirSync(join(folder, "repos"), { recursive: true });
  writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", "alice-ro": "ropw", bob: "bpw" });
  return folder;
}

async function ok(port: number, method: string, target: string, login: string, body?: Buffer): Promise<void> {
  const answer = await rawRequest(port, method, target, { login, body });
  if (answer.status !== 200) throw new Error(`${method} ${target} → ${answer.status} ${answer.body}`);
}

async function usage(port: number, login: string, target = "/_usage"): Promise<UsageReport> {
  // No Accept header: a browser's or curl's request.
  const answer = await rawRequest(port, "GET", target, { login, headers: { Accept: "*/*" } });
  expect(answer.status, answer.body).toBe(200);
  return JSON.parse(answer.body) as UsageReport;
}

/** Bytes and count of the objects stored under `root` (the store's own hidden files aside). */
function onDisk(root: string): { bytes: number; objects: number } {
  let bytes = 0;
  let objects = 0;
  for (const name of readdirSync(root)) {
    if (name.endsWith(".hid")) continue; // the store's own: quota.hid, uploads.hid/ (a writing session's lock file)
    const path = join(root, name);
    const stat = statSync(path);
    if (stat.isDirectory()) {
      const inner = onDisk(path);
      bytes += inner.bytes;
      objects += inner.objects;
    } else {
      bytes += stat.size;
      objects++;
    }
  }
  return { bytes, objects };
}

describe("hosting usage endpoint", () => {
  it("answers GET /_usage with the signed-in user's repositories (bytes, objects, quotas, last write), never another user's nor shared ones, from the kept figures", async () => {
    const folder = prepare("shape");
    const { hosting, port } = await start(folder);
    try {
      const before = Date.now();
      await ok(port, "POST", "/alice/laptop/?cmd=create", "alice:apw");
      await ok(port, "POST", "/alice/phone/?cmd=create", "alice:apw");
      await ok(port, "POST", "/bob/bobsecret/?cmd=create", "bob:bpw");
      await ok(port, "POST", "/bob/shared/?cmd=create", "bob:bpw");
      await ok(port, "POST", "/alice/laptop/data/a", "alice:apw", Buffer.alloc(1000, 1));
      await ok(port, "POST", "/alice/laptop/data/b", "alice:apw", Buffer.alloc(234, 2));
      await ok(port, "POST", "/bob/bobsecret/data/x", "bob:bpw", Buffer.alloc(77_777, 3));
      await ok(port, "POST", "/bob/shared/data/y", "bob:bpw", Buffer.alloc(55, 3));
      const after = Date.now();

      const report = await usage(port, "alice:apw");
      const laptopWrite = Date.parse(report.repositories[0]?.lastWrite ?? "");
      expect(laptopWrite).toBeGreaterThanOrEqual(before);
      expect(laptopWrite).toBeLessThanOrEqual(after);
      expect(report).toEqual({
        user: "alice",
        bytes: 1234,
        objects: 2,
        quota: 1_000_000,
        lastWrite: new Date(laptopWrite).toISOString(),
        repositories: [
          { name: "laptop", path: "/alice/laptop/", bytes: 1234, objects: 2, quota: 300_000, lastWrite: new Date(laptopWrite).toISOString() },
          { name: "phone", path: "/alice/phone/", bytes: 0, objects: 0, quota: 500_000, lastWrite: null },
        ],
      });
      // Every login of alice's, whatever its role, sees alice's figures.
      expect(await usage(port, "alice-ro:ropw")).toEqual(report);
      const bobs = await usage(port, "bob:bpw");
      expect(bobs.repositories.map((repo) => [repo.name, repo.bytes, repo.objects])).toEqual([
        ["bobsecret", 77_777, 1],
        ["shared", 55, 1],
      ]);
      expect(bobs).toMatchObject({ user: "bob", bytes: 77_832, objects: 2, quota: null });

      // Never by listing: an object removed behind the server's back is still counted.
      rmSync(join(folder, "repos", "alice", "laptop", "data", "b"));
      expect((await usage(port, "alice:apw")).bytes).toBe(1234);
    } finally {
      await hosting.shutdown(1000);
    }
  });

  it("answers 401 without a valid login (logged as a failed login), 405 to other methods, and leaves every other path (/_usage/, /_Usage, /x/_usage) to the protocol", async () => {
    const folder = prepare("refusals");
    let log = "";
    const logger = new Logger("warning", new Writable({ write: (chunk, _e, done) => done(void (log += String(chunk))) }));
    const { hosting, port } = await start(folder, { logger });
    try {
      for (const login of [undefined, "alice:wrong", "nobody:apw", "alice-ro:apw"]) {
        const answer = await rawRequest(port, "GET", "/_status", { login });
        expect(answer.status, String(login)).toBe(401);
        expect(answer.body).not.toContain("alice");
      }
      // A password guessed here is logged as on the protocol's paths (the name sent never is).
      expect(log.match(/failed login/g)).toHaveLength(3);
      expect(log).not.toContain("nobody");
      const post = await rawRequest(port, "POST", "/_usage", { login: "alice:apw" });
      expect(post.status).toBe(405);
      expect((await rawRequest(port, "DELETE", "/_status", { login: "alice:apw" })).status).toBe(405);
      expect((await rawRequest(port, "HEAD", "/_usage", { login: "alice:apw" })).status).toBe(200);
      expect((await rawRequest(port, "GET", "/_usage?user=bob", { login: "alice:apw" })).body).toContain('"user": "alice"');
      for (const path of ["/_usage/", "/_usage/bob", "/_Usage", "/%5Fusage", "//_usage", "/bob/_usage", "/_usage%3f"])
        expect((await rawRequest(port, "GET", path, { login: "alice:apw" })).status, path).toBe(404);
    } finally {
      await hosting.shutdown(1000);
    }
  });

  it("keeps the last write time in the usage record: through an idle close and a restart", async () => {
    const folder = prepare("last-write");
    let { hosting, port } = await start(folder, { idleMs: 50 });
    try {
      await ok(port, "POST", "/alice/laptop/?cmd=create", "alice:apw");
      await ok(port, "POST", "/alice/laptop/data/a", "alice:apw", Buffer.alloc(10, 1));
      const first = await usage(port, "alice:apw");
      expect(first.lastWrite).not.toBeNull();
      // Closed when idle: its figures, last write included, are parked and written clean.
      await expect.poll(async () => (await hosting.repositories.counts()).open, { timeout: 5000 }).toBe(0);
      expect(await usage(port, "alice:apw")).toEqual(first);
      const record = () => JSON.parse(readFileSync(join(folder, "state", "alice", "laptop.usage.json"), "utf8")) as { lastWrite: number; clean: boolean };
      await expect.poll(record, { timeout: 5000 }).toMatchObject({ clean: true, lastWrite: Date.parse(first.lastWrite ?? "") });
      // A delete is no write: the last write stays the store's.
      await ok(port, "DELETE", "/alice/laptop/data/a", "alice:apw");
      expect((await usage(port, "alice:apw")).repositories[0]).toMatchObject({ bytes: 0, objects: 0, lastWrite: first.lastWrite });
      await hosting.shutdown(1000);
      ({ hosting, port } = await start(folder));
      expect((await usage(port, "alice:apw")).repositories[0]).toMatchObject({ bytes: 0, objects: 0, lastWrite: first.lastWrite });
    } finally {
      await hosting.shutdown(1000);
    }
  });

  it("answers usage while 16 clients store and delete in two repositories, on their own names and on names they share: no figure is ever negative, the user's is the sum, and the end figures are exact", async () => {
    const folder = prepare("race");
    const { hosting, port } = await start(folder);
    try {
      const repos = ["r0", "r1"];
      for (const repo of repos) await ok(port, "POST", `/alice/${repo}/?cmd=create`, "alice:apw");
      // What each client's own name holds at the end, as the client left it.
      const expected = new Map<string, number>();
      let running = true;
      let snapshots = 0;
      const reader = (async () => {
        while (running) {
          const report = await usage(port, "alice:apw");
          snapshots++;
          for (const repo of report.repositories) {
            expect(repo.bytes).toBeGreaterThanOrEqual(0);
            expect(repo.objects).toBeGreaterThanOrEqual(0);
          }
          expect(report.bytes).toBe(report.repositories.reduce((sum, repo) => sum + repo.bytes, 0));
          expect(report.objects).toBe(report.repositories.reduce((sum, repo) => sum + repo.objects, 0));
        }
      })();
      const client = async (c: number) => {
        const repo = repos[c % 2] as string;
        for (let i = 0; i < 30; i++) {
          if (i % 3 === 2) {
            // A name all clients of this repository store and delete at once (a delete may find it gone).
            const shared = `/alice/${repo}/data/shared${i % 2}`;
            const answer =
              (c + i) % 2 === 0
                ? await rawRequest(port, "POST", shared, { login: "alice:apw", body: Buffer.alloc(50 + c * 10 + i, c) })
                : await rawRequest(port, "DELETE", shared, { login: "alice:apw" });
            expect([200, 404], `${answer.status} ${answer.body}`).toContain(answer.status);
            continue;
          }
          const name = `data/c${c}-${i % 6}`;
          const key = `${repo}/${name}`;
          if (i % 4 === 3 && expected.has(key)) {
            await ok(port, "DELETE", `/alice/${repo}/${name}`, "alice:apw");
            expected.delete(key);
          } else {
            const size = 100 + ((c * 31 + i * 17) % 900);
            await ok(port, "POST", `/alice/${repo}/${name}`, "alice:apw", Buffer.alloc(size, c));
            expected.set(key, size);
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, (_, c) => client(c)));
      running = false;
      await reader;
      expect(snapshots).toBeGreaterThan(5);
      const end = await usage(port, "alice:apw");
      for (const repo of repos) {
        const names = [...expected].filter(([key]) => key.startsWith(`${repo}/`));
        const disk = onDisk(join(folder, "repos", "alice", repo));
        const shared = onDisk(join(folder, "repos", "alice", repo, "data")).objects - names.length;
        expect(shared).toBeGreaterThanOrEqual(0);
        // The clients' own names hold what they left there; the shared ones whatever won: the disk says.
        expect(disk.bytes - names.reduce((sum, [, size]) => sum + size, 0)).toBeLessThanOrEqual(shared * 300);
        expect(end.repositories.find((r) => r.name === repo)).toMatchObject(disk);
      }
    } finally {
      await hosting.shutdown(1000);
    }
  }, 60_000);

  it("no hostile path or query around /_usage and /_status shows another user's repository or figures (fast-check)", async () => {
    const folder = prepare("hostile");
    const { hosting, port } = await start(folder);
    try {
      await ok(port, "POST", "/alice/laptop/?cmd=create", "alice:apw");
      await ok(port, "POST", "/bob/bobsecret/?cmd=create", "bob:bpw");
      await ok(port, "POST", "/bob/bobsecret/data/x", "bob:bpw", Buffer.alloc(77_777, 3));
      const pieces = ["_usage", "_status", "_Usage", "%5Fusage", "_usage%2f", "bob", "bobsecret", "alice", "laptop", "..", ".", "%2e%2e", "%2f", "", "?user=bob", "?cmd=quota", "?cmd=usage", ";bob", "%00", "\\", "#"];
      const path = fc
        .array(fc.tuple(fc.constantFrom(...pieces), fc.constantFrom("/", "//", "")), { minLength: 1, maxLength: 6 })
        .map((parts) => `/${parts.map(([piece, join]) => piece + join).join("")}`);
      await fc.assert(
        fc.asyncProperty(path, fc.constantFrom("GET", "HEAD", "POST"), fc.constantFrom("alice:apw", "alice-ro:ropw"), async (target, method, login) => {
          const answer = await rawRequest(port, method, target, { login, headers: { Accept: "*/*" } });
          expect(answer.status, `${method} ${target}`).not.toBe(500);
          expect(/bobsecret|77777|77,777|"user": "bob"/.test(answer.body), `${method} ${target} → ${answer.status} ${answer.body}`).toBe(false);
        }),
        { numRuns: 300 },
      );
    } finally {
      await hosting.shutdown(1000);
    }
  }, 60_000);
});
