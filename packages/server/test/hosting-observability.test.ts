import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parseHostingConfig } from "../src/hosting/config.js";
import { type HostingServer, openHostingServer } from "../src/hosting/hosting-server.js";
import { Logger } from "../src/logger.js";
import { CLI, tempDir } from "./helpers.js";
import { rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

/** Issue 16's observability in hosting mode: [metrics], the JSON access log and the audit log from the config file. */

const dir = tempDir("borgstore-hosting-observability-");
afterAll(() => dir.remove());

const PASSWORD = "Pw-never-logged-7f3a";
const RO_PASSWORD = "Ro-never-logged-91c2";
const WRONG = "Wrong-never-logged-55e1";

function folder(name: string): string {
  const path = join(dir.path, name);
  mkdirSync(path);
  writeHtpasswd(join(path, "htpasswd"), { alice: PASSWORD, "alice-ro": RO_PASSWORD, "alice-nd": "ndpw", bob: "bpw" });
  return path;
}

/** The value of the one sample of `name` with exactly these labels in a scrape (undefined: none). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if ((m[2] ?? "").split(",").sort().join(",") === want) return Number(m[3]);
  }
  return undefined;
}

/** Every value a label takes in a scrape. */
function labelValues(text: string, label: string): Set<string> {
  return new Set([...text.matchAll(new RegExp(`[{,]${label}="([^"]*)"`, "g"))].map((m) => m[1] as string));
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

function capture(): { logger: Logger; text(): string } {
  let text = "";
  const out = new Writable({
    write(chunk, _e, done) {
      text += String(chunk);
      done();
    },
  });
  return { logger: new Logger("info", out, "json"), text: () => text };
}

/** An in-process hosting server with [metrics] on a free port; resolves with both ports. */
async function startInProcess(path: string, options: { idleMs?: number } = {}) {
  const log = capture();
  const hosting: HostingServer = await openHostingServer(path, log.logger, options);
  const { port } = await hosting.listen();
  await new Promise((resolve) => setImmediate(resolve));
  const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(log.text())?.[1]);
  expect(metricsPort).toBeGreaterThan(0);
  return { hosting, port, metricsPort, log };
}

const alice = `alice:${PASSWORD}`;
const store = (port: number, repo: string, name: string, bytes: number, login = alice) =>
  rawRequest(port, "POST", `/alice/${repo}/${name}`, { login, body: Buffer.alloc(bytes, 1) });

describe("hosting mode: [metrics] and [log] from the configuration file", () => {
  it("refuses to start (exit 2, naming the key) for metrics on an address other than loopback without allow_remote, or an audit log it cannot open", async () => {
    const path = folder("refused");
    const backend = `file://${path}/repos/{user}/{repo}`;
    for (const [extra, key] of [
      ['[metrics]\nhost = "0.0.0.0"\nport = 0', /metrics\.host: refusing to serve metrics on 0\.0\.0\.0 \(not loopback\).*metrics\.allow_remote = true/],
    ] as const) {
      const config = writeHostingConfig(path, backend, extra);
      const run = spawnSync(process.execPath, [CLI, "--config", config], { encoding: "utf8", timeout: 20_000 });
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toMatch(key);
    }
    const unwritable = writeHostingConfig(path, backend, '[log]\naudit = "/nonexistent-folder/audit.log"');
    await expect(openHostingServer(unwritable, capture().logger)).rejects.toThrow(/log\.audit: cannot open the audit log .*ENOENT/);
    for (const [extra, key] of [
      ["[metrics]\nport = 0\nlisten = 1", /metrics: unknown key listen/],
      ["[metrics]\nport = 0\nmax_label_pairs = 0", /metrics\.max_label_pairs: /],
      ['[log]\nformat = "xml"', /log\.format: /],
    ] as const)
      expect(() => parseHostingConfig(`htpasswd = "h"\n[listen]\nport = 0\n[repositories]\nbackend = "file:///r/{user}/{repo}"\n${extra}`, path)).toThrow(key);
  });

  it("serves per user and repository metrics, a JSON access log and an audit file, and never writes a password", async () => {
    const path = folder("cli");
    const config = writeHostingConfig(
      path,
      `file://${path}/repos/{user}/{repo}`,
      '[metrics]\nport = 0\n\n[log]\nformat = "json"\naudit = "audit.log"\n\n[credentials]\nalice-ro = { user = "alice", role = "read-only" }\nalice-nd = { user = "alice", role = "no-delete" }\n\n[repos."alice/laptop"]\nquota = 5000',
    );
    const server = await startHosting(config);
    try {
      const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr())?.[1]);
      const { port } = server;
      expect((await rawRequest(port, "POST", "/alice/laptop/?cmd=create", { login: alice })).status).toBe(200);
      expect((await store(port, "laptop", "data/a", 1000)).status).toBe(200);
      expect((await store(port, "laptop", "data/b", 234)).status).toBe(200);
      expect((await rawRequest(port, "GET", "/alice/laptop/data/a", { login: alice })).bytes.byteLength).toBe(1000);
      expect((await rawRequest(port, "DELETE", "/alice/laptop/data/b", { login: `alice-ro:${RO_PASSWORD}` })).status).toBe(403);
      expect((await rawRequest(port, "DELETE", "/alice/laptop/data/b", { login: alice })).status).toBe(200);
      expect((await store(port, "laptop", "data/big", 10_000)).status).toBe(507);
      // Append-only: the identical value again is a retry, a different one an overwrite refused.
      expect((await store(port, "laptop", "data/a", 1000, "alice-nd:ndpw")).status).toBe(200);
      expect((await store(port, "laptop", "data/a", 999, "alice-nd:ndpw")).status).toBe(403);
      // The owner may overwrite: audited too (a first store is not).
      expect((await store(port, "laptop", "data/c", 10)).status).toBe(200);
      expect((await store(port, "laptop", "data/c", 20)).status).toBe(200);
      // Credentials that fail, one in an absolute-form target as a careless proxy or client sends it.
      expect((await rawRequest(port, "GET", "/alice/laptop/data/a", { login: `alice:${WRONG}` })).status).toBe(401);
      expect((await rawRequest(port, "GET", `http://alice:${PASSWORD}@127.0.0.1/alice/laptop/data/a`, { login: `alice:${WRONG}` })).status).toBe(401);

      const text = await scrape(metricsPort);
      const mine = { user: "alice", repo: "alice/laptop" };
      expect(sample(text, "borgstore_stored_bytes", mine)).toBe(1020);
      expect(sample(text, "borgstore_stored_objects", mine)).toBe(2);
      expect(sample(text, "borgstore_requests_total", { ...mine, operation: "store", status_class: "2xx" })).toBe(5);
      expect(sample(text, "borgstore_requests_total", { ...mine, operation: "store", status_class: "5xx" })).toBe(1); // 507
      // The refused bodies arrived too.
      expect(sample(text, "borgstore_received_bytes_total", { ...mine, operation: "store" })).toBe(1234 + 10_000 + 1000 + 999 + 30);
      expect(sample(text, "borgstore_sent_bytes_total", { ...mine, operation: "load" })).toBe(1000);
      expect(sample(text, "borgstore_request_duration_seconds_count", { ...mine, operation: "store" })).toBe(7);
      const lastWrite = sample(text, "borgstore_last_write_timestamp_seconds", mine) ?? 0;
      expect(Math.abs(Date.now() / 1000 - lastWrite)).toBeLessThan(60);
      // Failed logins count under "-": no series names what they sent.
      expect(sample(text, "borgstore_requests_total", { user: "-", repo: "", operation: "load", status_class: "4xx" })).toBe(2);
      expect(labelValues(text, "user")).toEqual(new Set(["alice", "-"]));
      expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const log = server.stderr();
    const audit = readFileSync(join(path, "audit.log"), "utf8");
    for (const secret of [PASSWORD, RO_PASSWORD, WRONG, Buffer.from(alice).toString("base64")]) {
      expect(log).not.toContain(secret);
      expect(audit).not.toContain(secret);
    }
    expect(log).not.toMatch(/authorization/i);
    const lines = log
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ log: "access", user: "alice", repo: "alice/laptop", op: "store", status: 200, bytes_in: 1000, duration_ms: expect.any(Number) }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ log: "access", user: "alice", repo: "alice/laptop", op: "load", status: 200, bytes_out: 1000 }));
    // Audit lines go to the file only.
    expect(lines.filter((l) => l.log === "audit")).toEqual([]);
    const audited = audit
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audited).toContainEqual(expect.objectContaining({ event: "permission-denied", user: "alice", repo: "alice/laptop", op: "delete", name: "data/b", status: 403 }));
    expect(audited).toContainEqual(expect.objectContaining({ event: "delete", user: "alice", repo: "alice/laptop", name: "data/b", status: 200 }));
    expect(audited).toContainEqual(expect.objectContaining({ event: "overwrite", user: "alice", repo: "alice/laptop", op: "store", name: "data/a", status: 403 }));
    expect(audited).toContainEqual(expect.objectContaining({ event: "overwrite", user: "alice", repo: "alice/laptop", op: "store", name: "data/c", status: 200 }));
    expect(audited.filter((l) => l.event === "overwrite")).toHaveLength(2);
    expect(audited).toContainEqual(expect.objectContaining({ event: "quota-denied", user: "alice", repo: "alice/laptop", op: "store", name: "data/big", status: 507 }));
  }, 60_000);

  it("keeps reporting the figures and last write of repositories closed while idle, and after a restart from the usage records, without a request; a reload keeps [metrics] and [log]", async () => {
    const path = folder("idle");
    const config = writeHostingConfig(path, `file://${path}/repos/{user}/{repo}`, "[metrics]\nport = 0");
    let { hosting, port, metricsPort } = await startInProcess(config, { idleMs: 50 });
    for (const repo of ["laptop", "phone"]) expect((await rawRequest(port, "POST", `/alice/${repo}/?cmd=create`, { login: alice })).status).toBe(200);
    expect((await store(port, "laptop", "data/x", 3000)).status).toBe(200);
    expect((await store(port, "phone", "data/y", 700)).status).toBe(200);
    expect((await store(port, "phone", "data/z", 1, "bob:bpw")).status).toBe(404);
    for (let i = 0; (await hosting.repositories.counts()).open > 0; i++) {
      expect(i).toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const expectFigures = (text: string) => {
      expect(sample(text, "borgstore_stored_bytes", { user: "alice", repo: "alice/laptop" })).toBe(3000);
      expect(sample(text, "borgstore_stored_bytes", { user: "alice", repo: "alice/phone" })).toBe(700);
      expect(sample(text, "borgstore_stored_objects", { user: "alice", repo: "alice/phone" })).toBe(1);
      expect(sample(text, "borgstore_stored_bytes", { user: "bob", repo: "bob/phone" })).toBeUndefined();
      for (const repo of ["alice/laptop", "alice/phone"])
        expect(Math.abs(Date.now() / 1000 - (sample(text, "borgstore_last_write_timestamp_seconds", { user: "alice", repo }) ?? 0))).toBeLessThan(60);
    };
    expectFigures(await scrape(metricsPort));
    await hosting.shutdown();
    let log: ReturnType<typeof capture>;
    ({ hosting, metricsPort, log } = await startInProcess(config));
    try {
      expectFigures(await scrape(metricsPort));
      expect((await hosting.repositories.counts()).open).toBe(0);
      // A reload keeps the listener and the logs it started with, and says so.
      writeHostingConfig(path, `file://${path}/repos/{user}/{repo}`, '[metrics]\nport = 0\n[log]\nformat = "text"\naudit = "a.log"');
      await hosting.reload();
      await new Promise((resolve) => setImmediate(resolve));
      expect(log.text()).toMatch(/\[metrics\] and \[log\] change only on restart/);
      expectFigures(await scrape(metricsPort));
    } finally {
      await hosting.shutdown();
    }
  }, 30_000);

  it("makes no series from what a request sends: failed logins, names tried by a login, and more repositories than max_label_pairs", async () => {
    const path = folder("hostile");
    const config = writeHostingConfig(path, `file://${path}/repos/{user}/{repo}`, "[metrics]\nport = 0\nmax_label_pairs = 4");
    const { hosting, port, metricsPort } = await startInProcess(config);
    try {
      const segment = fc.stringMatching(/^[a-z0-9][a-z0-9._%-]{0,12}$/);
      await fc.assert(
        fc.asyncProperty(segment, fc.string({ maxLength: 12 }), segment, segment, async (user, password, owner, repo) => {
          // Wrong passwords for real and invented users; a real login trying repositories that do not exist.
          const wrong = await rawRequest(port, "GET", `/${owner}/${repo}/data/x`, { login: `${user}:${password}x` });
          expect(wrong.status).toBe(401);
          const tried = await rawRequest(port, "GET", `/alice/${repo}-nx/data/x`, { login: alice });
          expect([404, 410]).toContain(tried.status);
          // Another user's repository (or none): counted as bob's, under no repository.
          const foreign = await rawRequest(port, "GET", `/${owner}/${repo}/data/x`, { login: "bob:bpw" });
          expect([400, 404, 410]).toContain(foreign.status);
        }),
        { numRuns: 40 },
      );
      let text = await scrape(metricsPort);
      expect(labelValues(text, "user")).toEqual(new Set(["-", "alice", "bob"]));
      expect(labelValues(text, "repo")).toEqual(new Set(["", "-"]));
      // Five real repositories, four label pairs: what does not fit is counted as _other.
      for (const repo of ["r1", "r2", "r3", "r4", "r5"]) {
        expect((await rawRequest(port, "POST", `/alice/${repo}/?cmd=create`, { login: alice })).status).toBe(200);
        expect((await store(port, repo, "data/v", 10)).status).toBe(200);
      }
      text = await scrape(metricsPort);
      // Request pairs: (-, ""), (alice, -), (bob, -) above, alice/r1 the fourth, the rest _other;
      // usage: alice/r1, alice/r2, alice/r3, and the rest summed as _other.
      expect(labelValues(text, "repo")).toEqual(new Set(["", "-", "alice/r1", "alice/r2", "alice/r3", "_other"]));
      expect(sample(text, "borgstore_requests_total", { user: "_other", repo: "_other", operation: "store", status_class: "2xx" })).toBe(4);
      const stored = [...text.matchAll(/^borgstore_stored_bytes\{[^}]*\} (\d+)$/gm)].map((m) => Number(m[1]));
      expect(stored.length).toBe(4);
      expect(stored.reduce((a, b) => a + b, 0)).toBe(50);
    } finally {
      await hosting.shutdown();
    }
  }, 60_000);
});
