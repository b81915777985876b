// Where does the time of a large GET go? Fetches the same 1 KiB and 4 MiB objects from radosgw
// (signed) and from `rclone rcd --rc-serve` in several ways, in one run, and prints wall time and
// CPU time (this process) per GET for each: the AWS SDK as the S3 backend used it, the SDK with its
// stream read differently, undici with the SDK's own signer, node:http, our backends' load(), and
// the Python reference's ways (http-get-microbench.py: boto3, requests, urllib). Not a suite of
// `pnpm bench` (it reports no ratios, only where time goes); run it by hand:
//   eval "$(bash scripts/test-servers/radosgw.sh start /tmp/rgw)"
//   flock /tmp/timing.lock node scripts/bench/http-get-microbench.mjs
// Env: BORGSTORE_TEST_S3_URL (else the S3 cases are left out), BORGSTORE_MICROBENCH_LARGE_COUNT (default
// 40), BORGSTORE_MICROBENCH_SMALL_COUNT (default 300), BORGSTORE_MICROBENCH_ONLY (a fragment of the case names),
// BORGSTORE_MICROBENCH_DIST (the build of the backends to time, default dist; a copy such as dist-before for a comparison).
import { execFileSync, spawn } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { freePort, waitAccepting } from "./lib.mjs";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const root = fileURLToPath(new URL("../..", import.meta.url));
const s3Require = createRequire(join(root, "packages/backend-s3/package.json"));
const sdkRequire = createRequire(s3Require.resolve("@aws-sdk/client-s3"));
const rcloneRequire = createRequire(join(root, "packages/backend-rclone/package.json"));
const { S3Client, GetObjectCommand, PutObjectCommand, DeleteObjectCommand } = s3Require("@aws-sdk/client-s3");
const { SignatureV4 } = sdkRequire("@smithy/signature-v4");
const { Pool } = rcloneRequire("undici");
/** Which build of the backends to time (a copy of an older dist/ beside it, for before/after). */
const DIST = process.env.BORGSTORE_MICROBENCH_DIST ?? "dist";
const { S3Backend } = await import(join(root, `packages/backend-s3/${DIST}/index.js`));
const { RcloneBackend } = await import(join(root, `packages/backend-rclone/${DIST}/index.js`));

const COUNT = {
  "4 MiB": Number(process.env.BORGSTORE_MICROBENCH_LARGE_COUNT ?? 40),
  "1 KiB": Number(process.env.BORGSTORE_MICROBENCH_SMALL_COUNT ?? 300),
};
const SIZES = { "1 KiB": 1024, "4 MiB": 4 * 1024 * 1024 };
const ONLY = process.env.BORGSTORE_MICROBENCH_ONLY ?? "";
const rows = [];

/** Runs `get` once to warm up, then `count` times; wall and CPU milliseconds per GET. */
async function timed(label, count, expected, get) {
  if (ONLY && !label.includes(ONLY)) return;
  const check = (bytes) => {
    if (bytes.byteLength !== expected) throw new Error(`${label}: got ${bytes.byteLength} bytes, expected ${expected}`);
  };
  check(await get());
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) check(await get());
  const wall = (performance.now() - t0) / count;
  const used = process.cpuUsage(cpu0);
  const row = { case: label, wallMs: wall, cpuMs: (used.user + used.system) / 1000 / count };
  rows.push(row);
  print(row);
}

function print(row) {
  console.log(`${row.case.padEnd(72)} wall ${row.wallMs.toFixed(2).padStart(7)} ms   cpu ${row.cpuMs.toFixed(2).padStart(6)} ms`);
}

/** Chunks appended to an array, then one concatenation (core's collectBytes). */
async function concatChunks(stream) {
  const chunks = [];
  let total = 0;
  for await (const c of stream) {
    chunks.push(c);
    total += c.byteLength;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/** Chunks copied into one buffer of the announced length, by async iteration. */
async function intoBuffer(stream, length) {
  const out = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for await (const c of stream) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out.subarray(0, at);
}

/** Chunks copied into one buffer of the announced length, by 'data' events (no promise per chunk). */
function intoBufferByEvents(stream, length) {
  return new Promise((resolve, reject) => {
    const out = Buffer.allocUnsafeSlow(length);
    let at = 0;
    stream.on("data", (c) => {
      out.set(c, at);
      at += c.byteLength;
    });
    stream.on("end", () => resolve(out.subarray(0, at)));
    stream.on("error", reject);
  });
}

/** The hash class SignatureV4 wants (plain SHA-256, or HMAC-SHA-256 with a secret), on node:crypto. */
class NodeSha256 {
  #hash;
  constructor(secret) {
    this.#hash = secret === undefined ? createHash("sha256") : createHmac("sha256", secret);
  }
  update(data) {
    this.#hash.update(typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }
  async digest() {
    return new Uint8Array(this.#hash.digest());
  }
}

async function s3Cases(url) {
  const m = /^s3:([^:]+):([^@]+)@(https?:\/\/[^/]+)\/([^/]+)\/(.+)$/.exec(url);
  if (!m) throw new Error(`cannot parse ${url}`);
  const [, accessKeyId, secretAccessKey, endpoint, bucket, path] = m;
  const credentials = { accessKeyId, secretAccessKey };
  const agent = { keepAlive: true, maxSockets: 50 };
  const client = new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { httpAgent: agent, httpsAgent: agent },
  });
  const prefix = `${path}/microbench-${Date.now().toString(36)}`;
  const keys = {};
  for (const [label, size] of Object.entries(SIZES)) {
    keys[label] = `${prefix}/obj-${size}`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: keys[label], Body: randomBytes(size) }));
  }
  const signer = new SignatureV4({ credentials, region: "us-east-1", service: "s3", sha256: NodeSha256 });
  const origin = new URL(endpoint);
  const pool = new Pool(endpoint, { connections: 8 });
  const agentHttp = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const signed = async (key) => {
    const req = await signer.sign({
      method: "GET",
      protocol: origin.protocol,
      hostname: origin.hostname,
      port: Number(origin.port),
      path: `/${bucket}/${key}`,
      headers: { host: origin.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    });
    return req.headers;
  };
  const backend = S3Backend.fromUrl(url, { path: prefix });
  await backend.open();
  try {
    for (const [label, size] of Object.entries(SIZES)) {
      const key = keys[label];
      const n = COUNT[label];
      const get = () => client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await timed(`s3 ${label} S3Backend.load (today's backend)`, n, size, () => backend.load(`obj-${size}`));
      await timed(`s3 ${label} SDK GetObject + chunks concatenated (collectBytes)`, n, size, async () => concatChunks((await get()).Body));
      await timed(`s3 ${label} SDK GetObject + transformToByteArray`, n, size, async () => (await get()).Body.transformToByteArray());
      await timed(`s3 ${label} SDK GetObject + 'data' events into ContentLength buffer`, n, size, async () => {
        const res = await get();
        return intoBufferByEvents(res.Body, res.ContentLength);
      });
      await timed(`s3 ${label} SDK GetObject, body ignored (request + headers only)`, n, 0, async () => {
        const res = await get();
        res.Body.resume();
        await new Promise((r) => res.Body.once("end", r));
        return new Uint8Array(0);
      });
      await timed(`s3 ${label} SignatureV4.sign only`, n, 0, async () => {
        await signed(key);
        return new Uint8Array(0);
      });
      await timed(`s3 ${label} undici Pool.request signed + async iteration into buffer`, n, size, async () => {
        const res = await pool.request({ method: "GET", path: `/${bucket}/${key}`, headers: await signed(key) });
        return intoBuffer(res.body, Number(res.headers["content-length"]));
      });
      await timed(`s3 ${label} undici Pool.request signed, highWaterMark 8 MiB, into buffer`, n, size, async () => {
        const res = await pool.request({ method: "GET", path: `/${bucket}/${key}`, headers: await signed(key), highWaterMark: 8 * 1024 * 1024 });
        return intoBuffer(res.body, Number(res.headers["content-length"]));
      });
      await timed(`s3 ${label} undici Pool.request signed, 'data' events into buffer`, n, size, async () => {
        const res = await pool.request({ method: "GET", path: `/${bucket}/${key}`, headers: await signed(key), highWaterMark: 8 * 1024 * 1024 });
        return intoBufferByEvents(res.body, Number(res.headers["content-length"]));
      });
      await timed(`s3 ${label} node:http signed, default highWaterMark, 'data' events`, n, size, () => httpGet(agentHttp, origin, `/${bucket}/${key}`, signed(key)));
      await timed(`s3 ${label} node:http signed, highWaterMark 8 MiB, 'data' events`, n, size, () => httpGet(agentHttp, origin, `/${bucket}/${key}`, signed(key), 8 * 1024 * 1024));
    }
    pythonCases({ s3: { endpoint, key: accessKeyId, secret: secretAccessKey, bucket, keys }, rclone: null });
  } finally {
    await backend.close().catch(() => {});
    for (const key of Object.values(keys)) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    client.destroy();
    await pool.close();
    agentHttp.destroy();
  }
}

async function httpGet(agent, origin, path, headersPromise, highWaterMark) {
  const headers = await headersPromise;
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: origin.hostname, port: origin.port, path, headers, highWaterMark }, (res) => {
      intoBufferByEvents(res, Number(res.headers["content-length"])).then(resolve, reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function rcloneCases() {
  const dir = mkdtempSync(join(tmpdir(), "microbench-rclone-"));
  const port = await freePort();
  const binary = process.env.RCLONE_BINARY ?? "rclone";
  const rcd = spawn(binary, ["rcd", "--rc-addr", `127.0.0.1:${port}`, "--rc-serve", "--rc-no-auth", "--log-level", "ERROR"], { stdio: "ignore" });
  const backend = new RcloneBackend({ remote: `:local:${join(dir, "store")}` });
  try {
    await waitAccepting(port, "rclone rcd");
    execFileSync("mkdir", ["-p", join(dir, "store")]);
    for (const size of Object.values(SIZES)) writeFileSync(join(dir, "store", `obj-${size}`), randomBytes(size));
    await backend.open();
    const origin = `http://127.0.0.1:${port}`;
    const pool = new Pool(origin, { connections: 8 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const urls = {};
    for (const [label, size] of Object.entries(SIZES)) {
      const path = `/${encodeURIComponent(`[:local:${join(dir, "store")}]`).replace(/%2F/g, "/").replace(/%3A/g, ":")}/obj-${size}`;
      urls[label] = `${origin}${path}`;
      const n = COUNT[label];
      await timed(`rclone ${label} RcloneBackend.load (today's backend)`, n, size, () => backend.load(`obj-${size}`));
      await timed(`rclone ${label} undici Pool.request, highWaterMark 8 MiB, into buffer`, n, size, async () => {
        const res = await pool.request({ method: "GET", path, highWaterMark: 8 * 1024 * 1024 });
        return intoBuffer(res.body, Number(res.headers["content-length"]));
      });
      await timed(`rclone ${label} undici Pool.request, 'data' events into buffer`, n, size, async () => {
        const res = await pool.request({ method: "GET", path, highWaterMark: 8 * 1024 * 1024 });
        return intoBufferByEvents(res.body, Number(res.headers["content-length"]));
      });
      await timed(`rclone ${label} undici Pool.request, body only read (stat-free)`, n, size, async () => {
        const res = await pool.request({ method: "GET", path });
        return new Uint8Array(await res.body.arrayBuffer());
      });
      await timed(`rclone ${label} node:http, default highWaterMark, 'data' events`, n, size, () => httpGet(agent, new URL(origin), path, {}));
      await timed(`rclone ${label} node:http, highWaterMark 8 MiB, 'data' events`, n, size, () => httpGet(agent, new URL(origin), path, {}, 8 * 1024 * 1024));
    }
    await pool.close();
    agent.destroy();
    pythonCases({ s3: null, rclone: { urls } });
  } finally {
    await backend.close().catch(() => {});
    rcd.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

function pythonCases(cfg) {
  const script = fileURLToPath(new URL("./http-get-microbench.py", import.meta.url));
  const python = process.env.BORGSTORE_REFERENCE_PYTHON ?? "/usr/bin/python3";
  const out = execFileSync(python, [script, JSON.stringify({ ...cfg, count: COUNT })], { encoding: "utf8" });
  for (const line of out.trim().split("\n").filter(Boolean)) {
    const row = JSON.parse(line);
    if (ONLY && !row.case.includes(ONLY)) continue;
    rows.push(row);
    print(row);
  }
}

const cpus0 = (await import("node:os")).loadavg();
console.log(`load average at start: ${cpus0.map((x) => x.toFixed(2)).join(" ")}`);
if (process.env.BORGSTORE_TEST_S3_URL) await s3Cases(process.env.BORGSTORE_TEST_S3_URL);
else console.log("BORGSTORE_TEST_S3_URL is not set: S3 cases left out");
await rcloneCases();
console.log(`load average at end: ${(await import("node:os")).loadavg().map((x) => x.toFixed(2)).join(" ")}`);
