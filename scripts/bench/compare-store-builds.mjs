// Store load/store throughput of two builds of @borgstore/core in one run, over memory and posixfs:
//   node --expose-gc scripts/bench/compare-store-builds.mjs BEFORE_CORE_DIR [AFTER_CORE_DIR]
// Each *_CORE_DIR holds a built core (its dist/index.js); AFTER defaults to packages/core. The two
// builds take turns round by round (ABAB…) so drift of the machine hits both alike; each case
// reports the medians of each (ops/s and CPU µs per op) and after/before. Env: BORGSTORE_BENCH_COMPARE_ROUNDS
// (default 15). With --expose-gc, garbage of one round is collected before the next is timed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { KiB, MiB, median } from "./lib.mjs";

const [beforeDir, afterDir = "packages/core"] = process.argv.slice(2);
if (!beforeDir) {
  console.error("usage: node scripts/bench/compare-store-builds.mjs BEFORE_CORE_DIR [AFTER_CORE_DIR]");
  process.exit(2);
}
const load = (dir) => import(pathToFileURL(resolve(dir, "dist/index.js")).href);
const builds = { before: await load(beforeDir), after: await load(afterDir) };
const { PosixFsBackend } = await import(pathToFileURL(resolve("packages/backend-posixfs/dist/index.js")).href);
const rounds = Number(process.env.BORGSTORE_BENCH_COMPARE_ROUNDS || 15);
const root = mkdtempSync(join(tmpdir(), "borgstore-compare-"));
let n = 0;

const backends = {
  memory: (core) => new core.MemoryBackend(),
  posixfs: () => new PosixFsBackend(join(root, `s${n++}`)),
};
const cases = [
  { size: 4 * KiB, count: 1000 },
  { size: 1 * MiB, count: 40 },
];

/** Runs `op(i)` `count` times, one after the other: wall-clock and CPU (user + system) seconds. */
async function timed(op, count) {
  globalThis.gc?.();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) await op(i);
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - start) / 1000, cpu: (used.user + used.system) / 1e6 };
}

async function round(core, makeBackend, { size, count }) {
  const store = new core.Store({ backend: makeBackend(core), config: { "data/": { levels: [1] } } });
  await store.create();
  await store.open();
  const value = new Uint8Array(size).fill(7);
  const key = (i) => `data/${i.toString(16).padStart(8, "0")}`;
  const stored = await timed((i) => store.store(key(i), value), count);
  const loaded = await timed((i) => store.load(key(i)), count);
  await store.close();
  await store.destroy();
  return { store: stored, load: loaded };
}

try {
  console.log(`Store throughput, ${rounds} rounds per build taking turns; medians; after/before`);
  console.log("(CPU µs per op is what the code costs; ops/s also carries what other processes on the machine take)");
  for (const [backendName, makeBackend] of Object.entries(backends)) {
    for (const c of cases) {
      const runs = { before: [], after: [] };
      await round(builds.before, makeBackend, c); // warm-up of both
      await round(builds.after, makeBackend, c);
      for (let r = 0; r < rounds; r++)
        for (const name of r % 2 === 0 ? ["before", "after"] : ["after", "before"])
          runs[name].push(await round(builds[name], makeBackend, c));
      for (const op of ["store", "load"]) {
        const rate = (name) => median(runs[name].map((run) => c.count / run[op].wall));
        const cpu = (name) => median(runs[name].map((run) => (run[op].cpu / c.count) * 1e6));
        const label = `${backendName} ${op} ${c.size >= MiB ? `${c.size / MiB} MiB` : `${c.size / KiB} KiB`}`;
        console.log(
          `${label.padEnd(22)} ops/s ${rate("before").toFixed(0).padStart(6)} → ${rate("after").toFixed(0).padStart(6)} (${(rate("after") / rate("before")).toFixed(3)})` +
            `   CPU µs/op ${cpu("before").toFixed(1).padStart(7)} → ${cpu("after").toFixed(1).padStart(7)} (${(cpu("after") / cpu("before")).toFixed(3)})`,
        );
      }
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
