// REST: store / load / list at 1 KiB, 64 KiB and 4 MiB with 1 and 16 operations in flight, for
//   - posixfs: Store directly over posixfs (no network),
//   - tcp:     Store over @borgstore/backend-rest → our server (child process, posixfs) on loopback,
//   - stdio:   the same through `borgstore-server-rest --stdio` (one exchange at a time),
//   - nginx:   nginx serving the same bytes as static files (the read ceiling), fetched with undici.
// Reference: the Python client + server pair, sequential, on the same kind of machine (issue 3).
// Targets (ratios within this run): 1 KiB load ×16 over TCP ≥ 25% of nginx static ×16; 1 KiB store
// ×16 over TCP ≥ 50% of posixfs ×16; 4 MiB over TCP ≥ 1 GB/s each way; 4 MiB load over TCP ≥ 0.8×
// nginx static and 4 MiB store ≥ 0.8× our 4 MiB load (issue 13; best of ×1/×16 each).
// BENCH_REST_SIZES="4194304" runs a subset of the sizes (targets whose rows are missing are left
// out); BENCH_SERVER_CLI points at another build of our server (before/after in one run).
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { Store } from "@borgstore/core";
import { KiB, MiB, freePort, measure, startOurServer, waitAccepting } from "../../../scripts/bench/lib.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const SERVER_CLI = process.env.BENCH_SERVER_CLI ?? here("../dist/cli.js");
// backend-rest is not a dependency of the server package: load its build by path.
const { RestBackend } = await import(new URL("../../backend-rest/dist/index.js", import.meta.url).href);
const { Pool } = await import(new URL("../../backend-rest/node_modules/undici/index.js", import.meta.url).href);

const CONFIG = { "data/": { levels: [2] }, "warm/": { levels: [0] }, "list/": { levels: [0] } };
const SIZES = [
  { size: KiB, label: "1 KiB", count: 3000 },
  { size: 64 * KiB, label: "64 KiB", count: 600 },
  { size: 4 * MiB, label: "4 MiB", count: 40 },
];
const IN_FLIGHT = [1, 16];
const LIST_ITEMS = 1000;

/** The Python pair, sequential (issue 3): ops/s, or MB/s for 4 MiB. */
const REFERENCE = {
  [KiB]: { store: 400, load: 23 },
  [64 * KiB]: { store: 900, load: 1300 },
  [4 * MiB]: { store: 210, load: 450 },
};
const NGINX_REFERENCE = { [KiB]: 62_000, [4 * MiB]: 2200 };

const keyOf = (i) => createHash("sha256").update(String(i)).digest("hex");
const isBulk = (size) => size >= MiB;

/** nginx with a static root: the script's (BORGSTORE_TEST_NGINX_STATIC_*) or one of our own. */
async function startNginx(env) {
  if (env.BORGSTORE_TEST_NGINX_STATIC_URL && env.BORGSTORE_TEST_NGINX_STATIC_DIR)
    return { url: env.BORGSTORE_TEST_NGINX_STATIC_URL, dir: env.BORGSTORE_TEST_NGINX_STATIC_DIR, stop: async () => {} };
  const prefix = mkdtempSync(join(tmpdir(), "borgstore-bench-nginx-"));
  const dir = join(prefix, "static");
  mkdirSync(dir);
  // nginx workers run as an unprivileged user: let them reach the files.
  chmodSync(prefix, 0o755);
  chmodSync(dir, 0o755);
  mkdirSync(join(prefix, "logs"));
  const port = await freePort();
  writeFileSync(
    join(prefix, "nginx.conf"),
    `daemon on; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log warn; worker_processes auto;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  client_body_temp_path ${prefix}/tmp-body; proxy_temp_path ${prefix}/tmp-proxy; fastcgi_temp_path ${prefix}/tmp-fcgi;
  uwsgi_temp_path ${prefix}/tmp-uwsgi; scgi_temp_path ${prefix}/tmp-scgi;
  server { listen 127.0.0.1:${port}; location /static/ { alias ${dir}/; } }
}
`,
  );
  const started = spawnSync("nginx", ["-c", join(prefix, "nginx.conf"), "-p", prefix], { encoding: "utf8" });
  if (started.status !== 0) throw new Error(`nginx failed: ${started.stderr}`);
  await waitAccepting(port, "nginx");
  return {
    url: `http://127.0.0.1:${port}/static/`,
    dir,
    async stop() {
      const pid = Number(readFileSync(join(prefix, "nginx.pid"), "utf8"));
      process.kill(pid, "SIGTERM");
      await new Promise((resolve) => setTimeout(resolve, 300));
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

/** Puts a `borgstore-server-rest` wrapper first on PATH, so rest:///path finds our CLI. */
function serverOnPath() {
  const bin = mkdtempSync(join(tmpdir(), "borgstore-bench-bin-"));
  writeFileSync(join(bin, "borgstore-server-rest"), `#!/bin/sh\nexec "${process.execPath}" "${SERVER_CLI}" "$@"\n`);
  chmodSync(join(bin, "borgstore-server-rest"), 0o755);
  process.env.PATH = `${bin}${delimiter}${process.env.PATH}`;
  return bin;
}

async function openStore(backend) {
  const store = new Store({ backend, config: CONFIG, latency: 0, bandwidth: 0 });
  await store.create();
  await store.open();
  return store;
}

function report(ctx, results, row) {
  results[row.case] = row.value;
  ctx.report(row);
}

export default async function bench(ctx) {
  const work = mkdtempSync(join(tmpdir(), "borgstore-bench-rest-"));
  const bin = serverOnPath();
  const server = await startOurServer(SERVER_CLI, join(work, "tcp-store"));
  const nginx = await startNginx(ctx.env);
  const results = {};
  const targets = [
    {
      kind: "posixfs",
      make: () => new PosixFsBackend({ path: join(work, "posixfs-store") }),
    },
    { kind: "tcp", make: () => new RestBackend({ url: server.url, concurrency: 16, env: {} }) },
    { kind: "stdio", make: () => new RestBackend({ url: `rest:///${join(work, "stdio-store")}` }) },
  ];
  try {
    const only = ctx.env.BENCH_REST_SIZES?.split(",").map(Number);
    for (const { size, label, count } of only ? SIZES.filter((s) => only.includes(s.size)) : SIZES) {
      const value = randomBytes(size);
      const keys = Array.from({ length: count }, (_, i) => `data/${keyOf(i)}`);
      for (const { kind, make } of targets) {
        for (const inFlight of IN_FLIGHT) {
          // stdio carries one exchange at a time: 16 in flight only queue up.
          const store = await openStore(make());
          // Untimed warm-up (JIT of client and server, connections, directories): the first
          // thousand small requests run several times slower than the rest.
          const warm = Math.min(count, size <= 64 * KiB ? 1000 : 10);
          await measure((i) => store.store(`warm/${keyOf(i)}`, value), { count: warm, inFlight });
          await measure((i) => store.load(`warm/${keyOf(i)}`), { count: warm, inFlight });
          for (const op of ["store", "load"]) {
            const run = op === "store" ? (i) => store.store(keys[i], value) : (i) => store.load(keys[i]);
            const r = await measure(run, { count, inFlight, bytesPerOp: size });
            const reference = kind === "posixfs" ? undefined : REFERENCE[size]?.[op];
            report(ctx, results, {
              case: `${kind} ${op} ${label} ×${inFlight}`,
              value: isBulk(size) ? r.mbPerSec : r.opsPerSec,
              unit: isBulk(size) ? "MB/s" : "ops/s",
              reference,
              referenceLabel: reference ? "Python pair, sequential" : undefined,
            });
          }
          if (size === KiB) {
            // list: a namespace of LIST_ITEMS small objects, whole listings per second.
            await measure((i) => store.store(`list/${keyOf(i)}`, value), { count: LIST_ITEMS, inFlight: 16 });
            const r = await measure(
              async () => {
                let n = 0;
                for await (const _ of store.list("list")) n++;
                if (n !== LIST_ITEMS) throw new Error(`list returned ${n} of ${LIST_ITEMS}`);
              },
              { count: 20, inFlight },
            );
            report(ctx, results, { case: `${kind} list ${LIST_ITEMS} items ×${inFlight}`, value: r.opsPerSec * LIST_ITEMS, unit: "items/s" });
          }
          await store.close();
          await store.destroy();
        }
      }
      // nginx: the same bytes as static files, fetched by a keep-alive undici pool.
      for (let i = 0; i < count; i++) writeFileSync(join(nginx.dir, `obj-${i}`), value);
      const base = new URL(nginx.url);
      for (const inFlight of IN_FLIGHT) {
        const pool = new Pool(base.origin, { connections: inFlight, pipelining: 1 });
        const get = async (i) => {
          const res = await pool.request({ method: "GET", path: `${base.pathname}obj-${i % count}` });
          const body = await res.body.arrayBuffer();
          if (res.statusCode !== 200 || body.byteLength !== size) throw new Error(`nginx: ${res.statusCode}, ${body.byteLength} bytes`);
        };
        await measure(get, { count: Math.min(count, 200), inFlight });
        const r = await measure(get, { count: size === KiB ? count * 3 : count, inFlight, bytesPerOp: size });
        const reference = inFlight === 16 ? NGINX_REFERENCE[size] : undefined;
        report(ctx, results, {
          case: `nginx static load ${label} ×${inFlight}`,
          value: isBulk(size) ? r.mbPerSec : r.opsPerSec,
          unit: isBulk(size) ? "MB/s" : "ops/s",
          reference,
          referenceLabel: reference ? "nginx on the reference machine" : undefined,
        });
        await pool.close();
      }
      for (let i = 0; i < count; i++) rmSync(join(nginx.dir, `obj-${i}`), { force: true });
    }

    const ratio = (a, b) => results[a] / results[b];
    const best = (name) => Math.max(results[`${name} ×1`], results[`${name} ×16`]);
    const checks = [
      ["1 KiB load ×16 over TCP vs nginx static ×16", ratio("tcp load 1 KiB ×16", "nginx static load 1 KiB ×16"), 0.25],
      ["1 KiB store ×16 over TCP vs posixfs ×16", ratio("tcp store 1 KiB ×16", "posixfs store 1 KiB ×16"), 0.5],
      ["4 MiB store over TCP, best of ×1/×16, GB/s", Math.max(results["tcp store 4 MiB ×1"], results["tcp store 4 MiB ×16"]) / 1000, 1],
      ["4 MiB load over TCP, best of ×1/×16, GB/s", Math.max(results["tcp load 4 MiB ×1"], results["tcp load 4 MiB ×16"]) / 1000, 1],
      ["4 MiB load over TCP vs nginx static, best of ×1/×16 each", best("tcp load 4 MiB") / best("nginx static load 4 MiB"), 0.8],
      ["4 MiB store over TCP vs our 4 MiB load over TCP, best of ×1/×16 each", best("tcp store 4 MiB") / best("tcp load 4 MiB"), 0.8],
    ];
    for (const [what, value, goal] of checks.filter(([, value]) => Number.isFinite(value)))
      ctx.report({ case: `target: ${what}`, value, unit: "ratio", target: `≥ ${goal}: ${value >= goal ? "met" : "MISSED"}` });
  } finally {
    await nginx.stop();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
    rmSync(bin, { recursive: true, force: true });
  }
}
