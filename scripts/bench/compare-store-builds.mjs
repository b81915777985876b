// Store over posixfs and memory, two builds in ONE process, taking turns on the same disk state:
//   node --expose-gc scripts/bench/compare-store-builds.mjs BEFORE_ROOT [AFTER_ROOT]
// Each *_ROOT is a built checkout (its packages/core and packages/backend-posixfs dist/); AFTER_ROOT
// defaults to this one. compare-builds.mjs's BEFORE_ROOT, /tmp/borgstore-bench-base-COMMIT, serves.
// Why beside compare-builds.mjs: there each build's suite runs in its own child process after a
// different history (the other build's creates and deletes, its own heap), and on this machine the
// rows that create and delete files swung 0.6-1.3 between runs of identical code. Here both builds
// run each case in turns (ABAB…), in fresh store folders, with the garbage of the turn before
// collected first, so what differs is the code. Each case: store, load, info, delete of `count`
// objects with 1 or 16 in flight; medians of ops/s and of CPU µs per op, after÷before.
// Env: BORGSTORE_BENCH_COMPARE_ROUNDS (default 7), BORGSTORE_BENCH_COMPARE_SCALE (objects per case ×N),
// BORGSTORE_BENCH_DIR (default the temp folder),
// BORGSTORE_BENCH_COMPARE_CASES (e.g. "posixfs:1024:16,memory:4194304:1").
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { KiB, MiB, median } from "./lib.mjs";

const [beforeRoot, afterRoot = resolve(import.meta.dirname, "../..")] = process.argv.slice(2);
if (!beforeRoot) {
  console.error("usage: node --expose-gc scripts/bench/compare-store-builds.mjs BEFORE_ROOT [AFTER_ROOT]");
  process.exit(2);
}

async function build(root) {
  const dist = (pkg) => pathToFileURL(resolve(root, "packages", pkg, "dist/index.js")).href;
  const core = await import(dist("core"));
  const { PosixFsBackend } = await import(dist("backend-posixfs"));
  return { core, PosixFsBackend };
}
const builds = { before: await build(beforeRoot), after: await build(afterRoot) };
const rounds = Number(process.env.BORGSTORE_BENCH_COMPARE_ROUNDS || 7);
const root = mkdtempSync(join(process.env.BORGSTORE_BENCH_DIR ?? tmpdir(), "borgstore-compare-"));
let folders = 0;

const backends = {
  posixfs: (b) => new b.PosixFsBackend({ path: join(root, `s${folders++}`) }),
  memory: (b) => new b.core.MemoryBackend(),
};
const OPS = ["store", "load", "info", "delete"];
/** Objects per case; BORGSTORE_BENCH_COMPARE_SCALE multiplies them (a case of a few ms is mostly noise). */
const scale = Number(process.env.BORGSTORE_BENCH_COMPARE_SCALE || 1);
const countFor = (size) => Math.round(scale * (size <= 4 * KiB ? 4000 : size <= 64 * KiB ? 1000 : 40));
const cases = (
  process.env.BORGSTORE_BENCH_COMPARE_CASES ??
  ["posixfs", "memory"].flatMap((b) => [KiB, 64 * KiB, 4 * MiB].flatMap((s) => [1, 16].map((f) => `${b}:${s}:${f}`))).join(",")
)
  .split(",")
  .map((text) => {
    const [backend, size, inFlight] = text.split(":");
    return { backend, size: Number(size), inFlight: Number(inFlight), count: countFor(Number(size)) };
  });

/** `op(i)` for i < count with `inFlight` outstanding: wall-clock and CPU (user + system) seconds. */
async function timed(op, count, inFlight) {
  globalThis.gc?.();
  const cpu = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < count) await op(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - start) / 1000, cpu: (used.user + used.system) / 1e6 };
}

async function turn(b, c) {
  const store = new b.core.Store({ backend: backends[c.backend](b), config: { "data/": { levels: [2] } }, latency: 0, bandwidth: 0 });
  await store.create();
  await store.open();
  const value = new Uint8Array(c.size).fill(7);
  const key = (i) => `data/${i.toString(16).padStart(8, "0")}${"0".repeat(56)}`;
  const result = {};
  for (const op of OPS)
    result[op] = await timed((i) => (op === "store" ? store.store(key(i), value) : store[op](key(i))), c.count, c.inFlight);
  await store.close();
  await store.destroy();
  return result;
}

try {
  const load = [loadavg()[0]];
  console.log(`Store, ${rounds} turns per build, in one process; medians; after÷before (before ${beforeRoot}, after ${afterRoot})`);
  console.log("(CPU µs per op is what the code costs; ops/s also carries what other processes on the machine take)");
  for (const c of cases) {
    const runs = { before: [], after: [] };
    await turn(builds.before, c); // warm-up of both
    await turn(builds.after, c);
    for (let r = 0; r < rounds; r++)
      for (const name of r % 2 === 0 ? ["before", "after"] : ["after", "before"]) runs[name].push(await turn(builds[name], c));
    load.push(loadavg()[0]);
    for (const op of OPS) {
      const rate = (name) => median(runs[name].map((run) => c.count / run[op].wall));
      const cpu = (name) => median(runs[name].map((run) => (run[op].cpu / c.count) * 1e6));
      const size = c.size >= MiB ? `${c.size / MiB} MiB` : `${c.size / KiB} KiB`;
      const label = `${c.backend} ${op} ${size} ×${c.inFlight}`;
      console.log(
        `${label.padEnd(26)} ops/s ${rate("before").toFixed(0).padStart(7)} → ${rate("after").toFixed(0).padStart(7)} (${(rate("after") / rate("before")).toFixed(3)})` +
          `   CPU µs/op ${cpu("before").toFixed(1).padStart(7)} → ${cpu("after").toFixed(1).padStart(7)} (${(cpu("after") / cpu("before")).toFixed(3)})`,
      );
    }
  }
  console.log(`load average (1 min): min ${Math.min(...load).toFixed(1)}, max ${Math.max(...load).toFixed(1)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
