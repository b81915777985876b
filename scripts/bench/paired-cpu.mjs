// CPU per operation of two builds, paired: the same work in alternating windows (A B B A …), each
// side's median µs per operation over the windows, and new÷old. CPU, not wall-clock: on a machine
// shared with other work, wall-clock rows of identical code spread ±20%, a process's own CPU far less.
//   node scripts/bench/paired-cpu.mjs [--base DIR] [--windows N] [CASE…]
// DIR: the other build's checkout (default /tmp/borgstore-bench-base-952247e, which
// scripts/bench/compare-builds.mjs prepares); "new" is this checkout. Both must be built.
// CASEs (default all):
//   info        Store.info over posixfs (1 and 16 in flight), in a child process per build (each build's
//               core and posixfs dist imported by absolute path); process.cpuUsage per window of
//               BORGSTORE_BENCH_PAIRED_OPS calls.
//   store load list
//               1 KiB requests over TCP to each build's `borgstore-server-rest` (a child process on
//               posixfs, --log-level warning as pnpm bench starts it), 16 in flight over undici: the
//               server process's CPU (/proc/PID/stat utime+stime) per window of BORGSTORE_BENCH_PAIRED_REQUESTS
//               requests (store and load: 1 KiB values; list: the listing of a directory of 10 items). /proc
//               counts CPU in clock ticks (10 ms): 6000 requests resolve 1.7 µs per request.
// Env: BORGSTORE_BENCH_PAIRED_OPS (default 20000), BORGSTORE_BENCH_PAIRED_REQUESTS (default 6000),
// BORGSTORE_BENCH_DIR (where the stores live; default the system temp directory, /dev/shm keeps disk noise out).
// Run it under `flock /tmp/timing.lock` on a shared machine.
import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { freePort, median, waitAccepting } from "./lib.mjs";

const here = resolve(import.meta.dirname, "../..");
const args = process.argv.slice(2);
function option(name, fallback) {
  const at = args.indexOf(name);
  if (at === -1) return fallback;
  const value = args[at + 1];
  args.splice(at, 2);
  return value;
}
const baseDir = resolve(option("--base", "/tmp/borgstore-bench-base-952247e"));
const windows = Number(option("--windows", 15));
const cases = args.length > 0 ? args : ["info", "store", "load", "list"];
const OPS = Number(process.env.BORGSTORE_BENCH_PAIRED_OPS || 20000);
const REQUESTS = Number(process.env.BORGSTORE_BENCH_PAIRED_REQUESTS || 6000);
const BENCH_DIR = process.env.BORGSTORE_BENCH_DIR ?? tmpdir();
const TICK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
const builds = { old: baseDir, new: here };
const keyOf = (i) => createHash("sha256").update(String(i)).digest("hex");

/** Runs `measure(side)` (µs per op) in `windows` rounds alternating which side goes first. */
async function paired(label, measure) {
  const figures = { old: [], new: [] };
  for (let w = 0; w < windows; w++) {
    const order = w % 2 === 0 ? ["old", "new"] : ["new", "old"];
    for (const side of order) figures[side].push(await measure(side));
  }
  const o = median(figures.old);
  const n = median(figures.new);
  console.log(`${label.padEnd(22)} old ${o.toFixed(2).padStart(8)} µs  new ${n.toFixed(2).padStart(8)} µs  new÷old ${(n / o).toFixed(3)}`);
}

/**
 * In a child process (one per build: two builds in one process share V8's inline caches of the
 * builtins, which slowed the base's Store.info by 40% there): one open Store over posixfs with
 * 4000 items, answering each stdin line "IN_FLIGHT" with the CPU µs per Store.info of OPS calls.
 * No forced GC between windows: the garbage a call leaves is part of its cost (with gc() before
 * each window, a build that allocated more per call looked as cheap as one that did not).
 */
async function infoChild(dir) {
  const core = await import(pathToFileURL(join(dir, "packages/core/dist/index.js")).href);
  const { PosixFsBackend } = await import(pathToFileURL(join(dir, "packages/backend-posixfs/dist/index.js")).href);
  const root = mkdtempSync(join(BENCH_DIR, "borgstore-paired-info-"));
  const store = new core.Store({ backend: new PosixFsBackend({ path: join(root, "store") }), config: { "data/": { levels: [2] } }, latency: 0, bandwidth: 0 });
  await store.create();
  await store.open();
  const keys = Array.from({ length: 4000 }, (_, i) => `data/${keyOf(i)}`);
  const value = new Uint8Array(1024).fill(7);
  for (const key of keys) await store.store(key, value);
  process.stdout.write("ready\n");
  for await (const line of createInterface({ input: process.stdin })) {
    const inFlight = Number(line);
    const cpu = process.cpuUsage();
    let next = 0;
    const worker = async () => {
      while (next < OPS) await store.info(keys[next++ % keys.length]);
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const used = process.cpuUsage(cpu);
    process.stdout.write(`${(used.user + used.system) / OPS}\n`);
  }
  await store.close();
  rmSync(root, { recursive: true, force: true });
}

async function infoCase() {
  const children = {};
  for (const [side, dir] of Object.entries(builds)) {
    const child = spawn(process.execPath, [import.meta.filename, "--info-child", dir], { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const ready = await lines.next();
    if (ready.value !== "ready") throw new Error(`the ${side} info child did not start`);
    children[side] = {
      ask: async (inFlight) => {
        child.stdin.write(`${inFlight}\n`);
        return Number((await lines.next()).value);
      },
      stop: () => new Promise((r) => child.once("exit", r).stdin.end()),
    };
  }
  for (const side of Object.keys(children)) for (let k = 0; k < 3; k++) await children[side].ask(16); // warm-up
  for (const inFlight of [1, 16]) await paired(`Store.info posixfs ×${inFlight}`, (side) => children[side].ask(inFlight));
  for (const child of Object.values(children)) await child.stop();
}

function processCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

async function startServer(side) {
  const port = await freePort();
  const dir = join(work, `server-${side}`);
  const cli = join(builds[side], "packages/server/dist/cli.js");
  const child = spawn(
    process.execPath,
    [cli, "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning", "--backend", `FILE:${dir}`],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  await waitAccepting(port, "borgstore-server-rest");
  return { port, pid: child.pid, stop: () => new Promise((r) => child.once("exit", r).kill("SIGTERM")) };
}

async function serverCases(selected) {
  const { Pool } = await import(pathToFileURL(join(here, "packages/backend-rest/node_modules/undici/index.js")).href);
  const servers = {};
  const pools = {};
  const headers = { accept: "application/vnd.x.borgstore.rest.v1" };
  const value = new Uint8Array(1024).fill(7);
  const nested = (i) => {
    const k = keyOf(i);
    return `/data/${k.slice(0, 2)}/${k.slice(2, 4)}/${k}`;
  };
  const send = async (pool, method, path, body) => {
    const { statusCode, body: rbody } = await pool.request({ method, path, headers, body });
    await rbody.arrayBuffer();
    if (statusCode !== 200) throw new Error(`${method} ${path}: ${statusCode}`);
  };
  for (const side of Object.keys(builds)) {
    servers[side] = await startServer(side);
    pools[side] = new Pool(`http://127.0.0.1:${servers[side].port}`, { connections: 16, pipelining: 1 });
    await send(pools[side], "POST", "/?cmd=create");
    for (let d = 0; d < 10; d++) await send(pools[side], "POST", `/list/${keyOf(d)}`, value);
  }
  const run = async (count, request) => {
    let next = 0;
    const worker = async () => {
      while (next < count) await request(next++);
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  };
  const requests = {
    store: (pool) => (i) => send(pool, "POST", nested(i % 1000), value),
    load: (pool) => (i) => send(pool, "GET", nested(i % 1000)),
    list: (pool) => () => send(pool, "GET", "/list/"), // the same listing each time
  };
  // Every key loaded exists: store them first, on both sides.
  for (const side of Object.keys(builds)) await run(1000, requests.store(pools[side]));
  for (const name of selected) {
    await paired(`server ${name} 1 KiB ×16`, async (side) => {
      const pool = pools[side];
      const before = processCpuSeconds(servers[side].pid);
      await run(REQUESTS, requests[name](pool));
      return ((processCpuSeconds(servers[side].pid) - before) * 1e6) / REQUESTS;
    });
  }
  for (const side of Object.keys(builds)) {
    await pools[side].close();
    await servers[side].stop();
  }
}

if (args[0] === "--info-child") {
  await infoChild(args[1]);
  process.exit(0);
}
const work = mkdtempSync(join(BENCH_DIR, "borgstore-paired-"));
try {
  console.log(`old: ${baseDir}\nnew: ${here}\nwindows: ${windows}`);
  if (cases.includes("info")) await infoCase();
  const serverSelected = cases.filter((c) => c in { store: 1, load: 1, list: 1 });
  if (serverSelected.length > 0) await serverCases(serverSelected);
} finally {
  rmSync(work, { recursive: true, force: true });
}
