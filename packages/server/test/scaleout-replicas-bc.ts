import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { ConditionalObjects } from "@borgstore/backend-s3";
import bcrypt from "bcryptjs";
import { afterEach, expect } from "vitest";
import { type HostingServer, Logger, openHostingServer } from "../src/index.js";

/**
 * Hosting replicas in this process sharing one radosgw bucket (a fresh prefix per call) through
 * `state_url`, each with its own state folder: what docs/scale-out.md deploys, minus nginx (the
 * tests send a user's requests to the replica they choose, as nginx does when its hash moves).
 */
export interface Replicas {
  readonly servers: HostingServer[];
  readonly urls: string[];
  /** The usage records in the bucket, as another replica (or an operator) reaches them. */
  readonly records: ConditionalObjects;
  readonly stateUrl: string;
  /** Each replica's configuration file. */
  readonly configFiles: string[];
  /** From now on the replicas' log lines go to `lines`. */
  logTo(lines: string[]): void;
  /** Where the repositories and records are: give it to another startReplicas to share them. */
  readonly prefix: string;
  close(): Promise<void>;
}

export const PASSWORD = "secret-pw";

/** `repositoriesToml`: more keys of the [repositories] table; `tablesToml`: tables after it. */
export async function startReplicas(
  s3Url: string,
  count: number,
  repositoriesToml = "",
  tablesToml = "",
  shared = `${s3Url.replace(/\/+$/, "")}/bc-${randomBytes(4).toString("hex")}`,
): Promise<Replicas> {
  const dir = await mkdtemp(join(tmpdir(), "bc-scaleout-"));
  const prefix = shared;
  const stateUrl = `${prefix}/_state`;
  const hash = bcrypt.hashSync(PASSWORD, 4);
  await writeFile(join(dir, "htpasswd"), `alice:${hash}\nbob:${hash}\n`);
  const servers: HostingServer[] = [];
  const urls: string[] = [];
  let sink: string[] | undefined;
  const logger = new Logger(
    "info",
    new Writable({
      write: (chunk, _e, done) => {
        sink?.push(String(chunk));
        done();
      },
    }),
  );
  const configFiles: string[] = [];
  for (let i = 0; i < count; i++) {
    const config = join(dir, `replica-${i}.toml`);
    await writeFile(
      config,
      [
        `htpasswd = "htpasswd"`,
        `state_dir = "state-${i}"`,
        `state_url = "${stateUrl}"`,
        "[listen]",
        `host = "127.0.0.1"`,
        "port = 0",
        "[repositories]",
        `backend = "${prefix}/repos/{user}/{repo}"`,
        "auto_create = true",
        `quota = "10M"`,
        repositoriesToml,
        tablesToml,
      ].join("\n"),
    );
    configFiles.push(config);
    const server = await openHostingServer(config, logger, { idleMs: 60_000, recordHeartbeat: { heartbeatMs: 300, cleanAfterMs: 1000 } }).catch(async (err) => {
      await Promise.allSettled(servers.map((started) => started.shutdown(1000)));
      await rm(dir, { recursive: true, force: true });
      throw err;
    });
    const address = await server.listen();
    servers.push(server);
    urls.push(`http://127.0.0.1:${address.port}`);
  }
  return {
    servers,
    urls,
    stateUrl,
    prefix,
    configFiles,
    logTo(lines) {
      sink = lines;
    },
    records: ConditionalObjects.fromUrl(stateUrl),
    async close() {
      await Promise.allSettled(servers.map((server) => server.shutdown(1000)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `startReplicas` over `s3Url` for the tests of a describe: every set it starts (a test's replicas
 * and their successors) is closed after the test, the last started first.
 */
export function replicasClosedAfterEach(
  s3Url: string | undefined,
): (count: number, repositoriesToml?: string, tablesToml?: string, shared?: string) => Promise<Replicas> {
  const started: Replicas[] = [];
  afterEach(async () => {
    for (const replicas of started.splice(0).reverse()) await replicas.close();
  });
  return async (count, repositoriesToml, tablesToml, shared) => {
    if (s3Url === undefined) throw new Error("no radosgw: the describe should have been skipped");
    const replicas = await startReplicas(s3Url, count, repositoriesToml, tablesToml, shared);
    started.push(replicas);
    return replicas;
  };
}

export const ACCEPT = "application/vnd.x.borgstore.rest.v1";
export const AUTH = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString("base64")}`;

export async function call(base: string, method: string, path: string, body?: Uint8Array): Promise<{ status: number; text: string }> {
  const answer = await fetch(`${base}${path}`, { method, headers: { authorization: AUTH, accept: ACCEPT }, ...(body ? { body } : {}) });
  return { status: answer.status, text: await answer.text() };
}

/** The repository's usage as `?cmd=quota` answers it. */
export async function quotaUsage(base: string, repoPath: string): Promise<number> {
  const answer = await call(base, "POST", `${repoPath}/?cmd=quota`);
  if (answer.status !== 200) throw new Error(`quota: ${answer.status} ${answer.text}`);
  return (JSON.parse(answer.text) as { usage: number }).usage;
}

/**
 * A store whose body is sent in two halves: `finish()` sends the second half and resolves with the
 * answer's status. Until then the upload is in flight on the server.
 */
export function heldUpload(base: string, path: string, value: Uint8Array): { finish(): Promise<number> } {
  const url = new URL(`${base}${path}`);
  let answered: (status: number) => void = () => {};
  let failed: (err: Error) => void = () => {};
  const status = new Promise<number>((resolve, reject) => {
    answered = resolve;
    failed = reject;
  });
  const req = request(
    { host: url.hostname, port: url.port, path: url.pathname + url.search, method: "POST", headers: { authorization: AUTH, accept: ACCEPT, "content-length": value.byteLength } },
    (res) => {
      res.resume();
      res.on("end", () => answered(res.statusCode ?? 0));
    },
  );
  req.on("error", failed);
  const half = Math.floor(value.byteLength / 2);
  req.write(value.subarray(0, half));
  return {
    finish() {
      req.end(value.subarray(half));
      return status;
    },
  };
}

/**
 * Alice's repository "one" on replica A, busy with an upload in flight throughout, while one of her
 * requests goes to replica B (an nginx retry, a hash flip), which keeps it open `bOpenMs` more and
 * then shuts down (a rolling restart); A stores on. 63,000 bytes in all once this returns.
 */
export async function servedByAnotherForAMoment(replicas: Replicas, bOpenMs = 0): Promise<void> {
  const [a, b] = replicas.urls as [string, string];
  expect((await call(a, "POST", "/alice/one/?cmd=create")).status).toBe(200);
  expect((await call(a, "POST", "/alice/one/data/first", new Uint8Array(1000))).status).toBe(200);
  const upload = heldUpload(a, "/alice/one/data/held", new Uint8Array(50_000));
  await sleep(200);
  expect((await call(b, "GET", "/alice/one/data/first")).status).toBe(200);
  expect((await call(a, "POST", "/alice/one/data/second", new Uint8Array(5000))).status).toBe(200);
  if (bOpenMs > 0) await sleep(bOpenMs);
  await replicas.servers[1]?.shutdown(1000);
  expect((await call(a, "POST", "/alice/one/data/third", new Uint8Array(7000))).status).toBe(200);
  expect(await upload.finish()).toBe(200);
}
