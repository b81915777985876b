import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProgram, prepareServer } from "../src/command-line.js";
import { Logger } from "../src/logger.js";
import { MemoryBackend } from "@borgstore/core";
import { Writable } from "node:stream";
import { OVERFLOW_LABEL, ServerMetrics } from "../src/observability/metrics.js";
import { labelRequest, noteAuditEvent } from "../src/observability/request-labels.js";
import { RestServer } from "../src/server.js";
import { ACCEPT, RawConnection, type RunningServer, startInProcess, tempDir } from "./helpers.js";

/** Issue 16's observability: /metrics and /healthz on their own listener, the JSON access log, the audit log. */

const USER = "backup-user";
const PASSWORD = "Zq8x-never-logged-7Kp2";
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

async function metricsPort(server: RunningServer): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  const m = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr());
  if (!m) throw new Error(`no metrics line in the log: ${server.stderr()}`);
  return Number(m[1]);
}

async function call(port: number, method: string, path: string, body?: Uint8Array, auth = AUTH): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { Accept: ACCEPT, Authorization: auth },
    body,
  });
}

/** The value of one sample of the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf("}"));
    const parts = inside.split(",");
    if (wanted.every((w) => parts.includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

async function logLines(server: RunningServer): Promise<Record<string, unknown>[]> {
  // The logger writes once per event-loop turn.
  await new Promise((resolve) => setImmediate(resolve));
  return server
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("metrics and health on --metrics-listen", () => {
  const dir = tempDir();
  let server: RunningServer;
  beforeAll(async () => {
    server = await startInProcess([
      "--backend",
      `file://${join(dir.path, "store")}`,
      "--create",
      "--quota",
      "10M",
      "--username",
      USER,
      "--password",
      PASSWORD,
      "--metrics-listen",
      "127.0.0.1:0",
    ]);
  });
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("counts requests, bytes in and out, durations and the last write per user and repository, and no name from a request", async () => {
    const value = new Uint8Array(3000).fill(7);
    const before = Date.now() / 1000;
    for (const i of [1, 2, 3]) expect((await call(server.port, "POST", `/data/secret-item-name-${i}`, value)).status).toBe(200);
    const loaded = await call(server.port, "GET", "/data/secret-item-name-1");
    expect((await loaded.arrayBuffer()).byteLength).toBe(3000);
    expect((await call(server.port, "HEAD", "/data/never-stored")).status).toBe(404);
    expect((await call(server.port, "GET", "/data/x", undefined, "Basic d3Jvbmc6d3Jvbmc=")).status).toBe(401);

    const scrape = await fetch(`http://127.0.0.1:${await metricsPort(server)}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get("content-type")).toContain("text/plain");
    const text = await scrape.text();
    const labels = { user: USER, repo: "" };
    expect(sample(text, "borgstore_requests_total", { ...labels, operation: "store", status_class: "2xx" })).toBe(3);
    expect(sample(text, "borgstore_requests_total", { ...labels, operation: "load", status_class: "2xx" })).toBe(1);
    expect(sample(text, "borgstore_requests_total", { ...labels, operation: "info", status_class: "4xx" })).toBe(1);
    // A failed login counts under no user.
    expect(sample(text, "borgstore_requests_total", { user: "-", repo: "", operation: "load", status_class: "4xx" })).toBe(1);
    expect(sample(text, "borgstore_received_bytes_total", { ...labels, operation: "store" })).toBe(9000);
    expect(sample(text, "borgstore_sent_bytes_total", { ...labels, operation: "load" })).toBe(3000);
    expect(sample(text, "borgstore_request_duration_seconds_count", { ...labels, operation: "store" })).toBe(3);
    const lastWrite = sample(text, "borgstore_last_write_timestamp_seconds", labels) ?? 0;
    expect(lastWrite).toBeGreaterThanOrEqual(Math.floor(before));
    expect(lastWrite).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    // posixfs keeps its usage with a quota: stored bytes without a walk.
    expect(sample(text, "borgstore_stored_bytes", labels)).toBe(9000);
    expect(text).not.toContain("secret-item-name");
    expect(text).not.toContain("never-stored");
    expect(text).not.toContain(PASSWORD);
  });

  it("answers /healthz 200 while the backend serves, and 404/405 for anything else", async () => {
    const port = await metricsPort(server);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("ok\n");
    expect((await fetch(`http://127.0.0.1:${port}/data/x`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" })).status).toBe(405);
  });

  it("keeps /metrics an ordinary item name on the protocol's listener", async () => {
    expect((await call(server.port, "POST", "/metrics", new Uint8Array([1]))).status).toBe(200);
    expect(new Uint8Array(await (await call(server.port, "GET", "/metrics")).arrayBuffer())).toEqual(new Uint8Array([1]));
  });
});

describe("/healthz of a store that cannot be opened", () => {
  it("answers 503 with the error's code (and never the path)", async () => {
    const dir = tempDir();
    const server = await startInProcess(["--backend", `file://${join(dir.path, "never-created")}`, "--metrics-listen", "127.0.0.1:0"]);
    try {
      const health = await fetch(`http://127.0.0.1:${await metricsPort(server)}/healthz`);
      expect(health.status).toBe(503);
      const text = await health.text();
      expect(text).toMatch(/^unhealthy: backend cannot be opened: [A-Z_]+\n$/);
      expect(text).not.toContain(dir.path);
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});

describe("--metrics-listen exposure", () => {
  async function prepare(args: string[]): Promise<unknown> {
    const program = createProgram()
      .exitOverride()
      .configureOutput({ writeErr: () => {} });
    try {
      program.parse(["--backend", "memory:", ...args], { from: "user" });
      const prepared = await prepareServer(program, new Logger("error"));
      await prepared.server.shutdown(0);
      return undefined;
    } catch (err) {
      return err;
    }
  }

  it("refuses an address other than loopback without --metrics-allow-remote", async () => {
    const err = await prepare(["--metrics-listen", "0.0.0.0:0"]);
    expect(String(err)).toMatch(/refusing to serve metrics on 0\.0\.0\.0 \(not loopback\)/);
    expect(await prepare(["--metrics-listen", "0.0.0.0:0", "--metrics-allow-remote"])).toBeUndefined();
    expect(await prepare(["--metrics-listen", "[::1]:0"])).toBeUndefined();
  });

  it("refuses an --audit-log that cannot be opened", async () => {
    expect(String(await prepare(["--audit-log", "/nonexistent-folder/audit.log"]))).toMatch(/cannot open the audit log .*ENOENT/);
  });

  it("refuses --metrics-listen with --stdio", async () => {
    expect(String(await prepare(["--metrics-listen", "127.0.0.1:0", "--stdio"]))).toMatch(/does not apply to --stdio/);
  });

  it("refuses a value that is not HOST:PORT", async () => {
    for (const bad of ["9100", "127.0.0.1", "127.0.0.1:99999", "::1:9100"])
      expect(String(await prepare(["--metrics-listen", bad]))).toMatch(/expected HOST:PORT/);
  });
});

describe("label cardinality", () => {
  it("counts pairs beyond the limit under one overflow label", async () => {
    const metrics = new ServerMetrics({ maxLabelPairs: 2, processMetrics: false });
    const record = { operation: "load" as const, status: 200, bytesIn: 0, bytesOut: 10, durationSeconds: 0.001 };
    for (const user of ["a", "b", "c", "d"]) metrics.observe({ ...record, user, repo: "r" });
    const text = await metrics.render();
    expect(sample(text, "borgstore_requests_total", { user: "a", repo: "r" })).toBe(1);
    expect(sample(text, "borgstore_requests_total", { user: "b", repo: "r" })).toBe(1);
    expect(sample(text, "borgstore_requests_total", { user: OVERFLOW_LABEL, repo: OVERFLOW_LABEL })).toBe(2);
    expect(text).not.toMatch(/user="[cd]"/);
  });
});

describe("the hook the hosting mode calls", () => {
  it("counts and logs a request under the user and repository given to labelRequest, with noted audit events", async () => {
    let log = "";
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        log += chunk.toString();
        done();
      },
    });
    const backend = new MemoryBackend();
    await backend.create();
    const metrics = new ServerMetrics({ processMetrics: false });
    const server = new RestServer(backend, { logger: new Logger("info", out, "json"), metrics });
    // Where the hosting mode's router would call them, once it knows whose request this is.
    server.http.prependListener("request", (req) => {
      labelRequest(req, { user: "alice", repo: "alice/laptop" });
      if (req.method === "POST") noteAuditEvent(req, "overwrite");
    });
    const { port } = await server.listenTcp(0, "127.0.0.1");
    try {
      const res = await fetch(`http://127.0.0.1:${port}/data/x`, { method: "POST", headers: { Accept: ACCEPT }, body: "12345" });
      expect(res.status).toBe(200);
    } finally {
      await server.shutdown(1000);
    }
    const text = await metrics.render();
    expect(sample(text, "borgstore_received_bytes_total", { user: "alice", repo: "alice/laptop", operation: "store" })).toBe(5);
    const lines = log.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toContainEqual(expect.objectContaining({ log: "access", user: "alice", repo: "alice/laptop", op: "store", bytes_in: 5 }));
    expect(lines).toContainEqual(expect.objectContaining({ log: "audit", event: "overwrite", user: "alice", repo: "alice/laptop", name: "data/x" }));
  });
});

describe("a server logging above info", () => {
  it("still writes the audit lines of an audit log at info, and makes none for an audit log above it", async () => {
    const texts = { main: "", audit: "" };
    const sink = (key: "main" | "audit") =>
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          texts[key] += chunk.toString();
          done();
        },
      });
    for (const auditLevel of ["info", "warning"] as const) {
      texts.main = "";
      texts.audit = "";
      const backend = new MemoryBackend();
      await backend.create();
      const server = new RestServer(backend, {
        logger: new Logger("warning", sink("main"), "json"),
        auditLogger: new Logger(auditLevel, sink("audit"), "json"),
      });
      server.http.prependListener("request", (req) => {
        labelRequest(req, { user: "alice", repo: "alice/laptop" });
        if (req.method === "POST") noteAuditEvent(req, "overwrite");
      });
      const { port } = await server.listenTcp(0, "127.0.0.1");
      try {
        expect((await fetch(`http://127.0.0.1:${port}/data/x`, { method: "POST", headers: { Accept: ACCEPT }, body: "12345" })).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${port}/data/x`, { method: "DELETE", headers: { Accept: ACCEPT } })).status).toBe(200);
      } finally {
        await server.shutdown(1000);
      }
      expect(texts.main).toBe("");
      const lines = texts.audit.trim() === "" ? [] : texts.audit.trim().split("\n").map((l) => JSON.parse(l));
      if (auditLevel === "info") {
        expect(lines).toContainEqual(expect.objectContaining({ log: "audit", event: "overwrite", op: "store", name: "data/x", repo: "alice/laptop" }));
        expect(lines).toContainEqual(expect.objectContaining({ log: "audit", event: "delete", op: "delete", name: "data/x" }));
      } else expect(lines).toEqual([]);
    }
  });
});

describe("the JSON access log and the audit log", () => {
  const dir = tempDir();
  let server: RunningServer;
  beforeAll(async () => {
    server = await startInProcess([
      "--backend",
      `file://${join(dir.path, "store")}`,
      "--create",
      "--quota",
      "4k",
      "--username",
      USER,
      "--password",
      PASSWORD,
      "--log-format",
      "json",
      "--permissions",
      JSON.stringify({ "": "lr", data: "lrwD", config: "lrw" }),
    ]);
  });
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("writes one line per request with user, repo, operation, status, bytes and duration", async () => {
    expect((await call(server.port, "POST", "/data/a", new Uint8Array(100))).status).toBe(200);
    expect((await (await call(server.port, "GET", "/data/a")).arrayBuffer()).byteLength).toBe(100);
    const lines = (await logLines(server)).filter((l) => l.log === "access");
    const store = lines.find((l) => l.op === "store");
    expect(store).toMatchObject({ level: "info", msg: "request", user: USER, repo: "", status: 200, bytes_in: 100, bytes_out: 0, method: "POST" });
    expect(typeof store?.duration_ms).toBe("number");
    expect(typeof store?.time).toBe("string");
    expect(lines.find((l) => l.op === "load")).toMatchObject({ status: 200, bytes_in: 0, bytes_out: 100 });
  });

  it("audits deletes, permission denials and quota denials, with the item's name", async () => {
    expect((await call(server.port, "POST", "/data/gone", new Uint8Array(10))).status).toBe(200);
    expect((await call(server.port, "DELETE", "/data/gone")).status).toBe(200);
    expect((await call(server.port, "DELETE", "/config/protected")).status).toBe(403);
    expect((await call(server.port, "POST", "/data/too-big", new Uint8Array(8000))).status).toBe(507);
    const audit = (await logLines(server)).filter((l) => l.log === "audit");
    expect(audit).toContainEqual(expect.objectContaining({ event: "delete", op: "delete", name: "data/gone", user: USER, status: 200 }));
    expect(audit).toContainEqual(expect.objectContaining({ event: "permission-denied", op: "delete", name: "config/protected", status: 403 }));
    expect(audit).toContainEqual(expect.objectContaining({ event: "quota-denied", op: "store", name: "data/too-big", status: 507 }));
    expect(audit.filter((l) => l.event === "delete")).toHaveLength(1);
  });

  it("sends audit lines to --audit-log's file instead, as JSON", async () => {
    const auditDir = tempDir();
    const auditFile = join(auditDir.path, "audit.log");
    const other = await startInProcess(["--backend", `file://${join(auditDir.path, "store")}`, "--create", "--audit-log", auditFile]);
    try {
      const noAuth = { Accept: ACCEPT };
      expect((await fetch(`http://127.0.0.1:${other.port}/data/x`, { method: "POST", headers: noAuth, body: "v" })).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${other.port}/data/x`, { method: "DELETE", headers: noAuth })).status).toBe(200);
    } finally {
      await other.stop();
    }
    const lines = readFileSync(auditFile, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toEqual([expect.objectContaining({ log: "audit", event: "delete", name: "data/x", user: "-", repo: "" })]);
    expect(other.stderr()).not.toContain("audit");
    auditDir.remove();
  });
});

describe("no credential reaches a log (fast-check)", () => {
  // Secrets long and distinctive enough not to occur in a log line by chance.
  const secretArb = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/).map((s) => `S3CR3T${s}`);
  const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64");
  const hostileArb = fc.record({
    secret: secretArb,
    authForm: fc.constantFrom("basic-pass", "basic-user", "bearer", "raw", "digest", "basic-valid-user", "none"),
    urlForm: fc.constantFrom("origin", "absolute-userinfo", "absolute-userinfo-only"),
    method: fc.constantFrom("GET", "HEAD", "POST", "DELETE"),
  });

  type Hostile = typeof hostileArb extends fc.Arbitrary<infer T> ? T : never;
  function request({ secret, authForm, urlForm, method }: Hostile): {
    text: string;
    secrets: string[];
  } {
    const auth: Record<string, string | undefined> = {
      "basic-pass": `Basic ${b64(`${USER}:${secret}`)}`,
      "basic-user": `Basic ${b64(`${secret}:${secret}x`)}`,
      bearer: `Bearer ${secret}`,
      raw: secret,
      digest: `Digest username="${secret}", response="${secret}"`,
      "basic-valid-user": AUTH,
      none: undefined,
    };
    const header = auth[authForm];
    const target =
      urlForm === "origin"
        ? "/data/item"
        : urlForm === "absolute-userinfo"
          ? `http://${secret}:${secret}pw@127.0.0.1/data/item`
          : `http://${secret}@localhost/data/?cmd=rmdir`;
    const body = method === "POST" ? "v" : "";
    const text = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${ACCEPT}\r\n${header ? `Authorization: ${header}\r\n` : ""}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const secrets = [secret, PASSWORD, b64(`${USER}:${PASSWORD}`)];
    if (header) secrets.push(header.split(" ").pop() as string);
    return { text, secrets };
  }

  for (const format of ["text", "json"] as const) {
    it(`keeps Authorization headers and passwords in URLs out of the ${format} access and audit logs`, async () => {
      const dir = tempDir();
      const auditFile = join(dir.path, "audit.log");
      const server = await startInProcess([
        "--backend",
        `file://${join(dir.path, "store")}`,
        "--create",
        "--username",
        USER,
        "--password",
        PASSWORD,
        "--log-level",
        "debug",
        "--log-format",
        format,
        "--audit-log",
        auditFile,
        "--permissions",
        JSON.stringify({ "": "lr", data: "lrw" }),
      ]);
      const seen: string[] = [];
      try {
        await fc.assert(
          fc.asyncProperty(hostileArb, async (hostile) => {
            const { text, secrets } = request(hostile);
            seen.push(...secrets);
            const connection = await RawConnection.open(server.port);
            connection.send(text);
            await connection.response({ head: hostile.method === "HEAD" }).catch(() => undefined);
            await connection.waitClosed();
          }),
          {
            numRuns: 60,
            // A permission denial and a delete every time, so the audit log is never vacuous.
            examples: [
              [{ secret: "S3CR3Tfixed0example", authForm: "basic-valid-user", urlForm: "origin", method: "DELETE" }],
              [{ secret: "S3CR3Tfixed1example", authForm: "basic-valid-user", urlForm: "origin", method: "POST" }],
            ],
          },
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        await server.stop();
      }
      const logs = `${server.stderr()}\n${readFileSync(auditFile, "utf8")}`;
      // The logs did see these requests (a vacuous pass would prove nothing).
      expect(logs).toContain(format === "json" ? '"log":"access"' : '"POST /data/item HTTP/1.1"');
      expect(logs).toMatch(/permission-denied/);
      for (const secret of seen) expect(logs).not.toContain(secret);
      dir.remove();
    });
  }
});
