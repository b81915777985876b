// The unmodified Python client (reference Store over RestBackend, sequential, as borg uses it)
// against our server and against the reference's own server, same machine, same run (issue 12.3).
// Each server serves a posixfs store in its own temp folder on the same disk, with its defaults
// (neither fsyncs). One Python driver process per server (python-client-driver.py) times each
// phase; the two servers' phases alternate (A/B, then B/A in the next round) so that load and
// disk state are alike. All stores of new objects come before any delete: mass deletes on this
// kind of ext4 slow later file creates for minutes. Every operation is warmed up first on both
// sides (our server's JIT compiles each request path only after some hundred requests; borg
// runs for hours). Reported: ours and the reference's ops/s (medians of the slices) and, as the
// ratio, the median of the paired slices' ratios (each of ours against the reference's slice
// run right before or after it, which cancels the swings of a shared machine's load), target
// ≥ 1.0; rows below are marked "BELOW 1.0". Each row also tells the middle half of the paired
// ratios (their spread) and both servers' CPU time per operation (all threads), which a busy
// machine disturbs far less than rates.
// BENCH_PYTHON_ROUNDS (default 3) sets the rounds; BENCH_PYTHON_SIZES="1024,4194304" a subset;
// BENCH_CPU_PROF_DIR makes our server write a CPU profile there.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { referenceEnv, requireReferencePeer, startReferenceServer } from "@borgstore/testkit";
import { KiB, MiB, median, startLineDriver, startOurServer } from "../../../scripts/bench/lib.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
// BENCH_SERVER_CLI: another build of our server, e.g. to compare before/after a change.
const SERVER_CLI = process.env.BENCH_SERVER_CLI ?? here("../dist/cli.js");
const DRIVER = here("./python-client-driver.py");

// Objects stored per size and round (fewer for large sizes: bounded total time and disk use).
const SIZES = [
  { size: KiB, label: "1 KiB", count: 300 },
  { size: 64 * KiB, label: "64 KiB", count: 200 },
  { size: MiB, label: "1 MiB", count: 60 },
  { size: 4 * MiB, label: "4 MiB", count: 24 },
  { size: 16 * MiB, label: "16 MiB", count: 8 },
  { size: 64 * MiB, label: "64 MiB", count: 4 },
];
const INFO_MIN = 300;
/** Parts each phase is cut into, alternating the servers' order. */
const SLICES = 6;
/** Index of the first warm-up object (apart from the timed ones). */
const WARM = 1e9;
const LISTINGS = 20;
/** Namespace of the warm-up objects that are deleted (right before the timed deletes). */
const WARM_NS = "warm/";
/** Warm-up operations per kind on small values: enough for the JIT to optimize each path. */
const WARM_OPS = 300;
const OPS = ["store", "load", "info", "list", "delete"];

/** BENCH_CPU_PROF_DIR: our server writes a CPU profile there (node refuses --cpu-prof in NODE_OPTIONS). */
function cpuProfileArgs() {
  const dir = process.env.BENCH_CPU_PROF_DIR;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/** One Python driver: send a command, get the seconds it took. */
function startDriver(peer, url, namespaces) {
  const driver = startLineDriver(peer.python, [DRIVER, url, namespaces.join(",")], {
    env: referenceEnv(peer),
    what: `python driver for ${url}`,
  });
  return { run: async (cmd) => (await driver.run(cmd)).seconds, stop: () => driver.stop() };
}

export default async function bench(ctx) {
  const peer =
    requireReferencePeer("python-client bench", ["requests"]) ?? ctx.missing("the Python reference (shared/reference, python3-requests)");
  const rounds = Number(ctx.env.BENCH_PYTHON_ROUNDS ?? 3);
  const only = ctx.env.BENCH_PYTHON_SIZES?.split(",").map(Number);
  const sizes = only ? SIZES.filter((s) => only.includes(s.size)) : SIZES;
  const nsOf = (size) => `s${size}/`;
  const namespaces = [...sizes.map(({ size }) => nsOf(size)), WARM_NS];
  const work = mkdtempSync(join(tmpdir(), "borgstore-bench-pyclient-"));
  const ours = await startOurServer(SERVER_CLI, join(work, "ours"), { nodeArgs: cpuProfileArgs() });
  const reference = await startReferenceServer(peer, { backend: `file://${join(work, "reference")}` });
  const sides = {
    ours: startDriver(peer, ours.url, namespaces),
    reference: startDriver(peer, reference.url, namespaces),
  };
  // rates[side][op][size]: operations per second of each slice (each paired with the other
  // side's slice of the same operations, run right before or after it).
  const rates = { ours: {}, reference: {} };
  // cpu[side][op][size]: server CPU milliseconds per operation of each slice.
  const cpu = { ours: {}, reference: {} };
  // pairs[op][size]: ours/reference rate of each pair of slices.
  const pairs = {};
  const pids = { ours: ours.pid, reference: reference.process.pid };
  const push = (table, op, size, value) => {
    table[op] ??= {};
    (table[op][size] ??= []).push(value);
  };
  /**
   * Runs `cmd` on both sides in SLICES parts, A/B then B/A, so that both see the same swings of
   * a shared machine's load.
   */
  const both = async (round, op, size, cmd) => {
    const slices = Math.min(SLICES, cmd.count);
    let done = 0;
    for (let k = 0; k < slices; k++) {
      const count = Math.round((cmd.count * (k + 1)) / slices) - done;
      const part = { op, ns: nsOf(size), size, ...cmd, start: cmd.start + done, count };
      const order = (round + k) % 2 === 0 ? ["ours", "reference"] : ["reference", "ours"];
      const rate = {};
      for (const side of order) {
        const cpuBefore = cpuMs(pids[side]);
        rate[side] = count / (await sides[side].run(part));
        push(cpu[side], op, size, (cpuMs(pids[side]) - cpuBefore) / count);
        push(rates[side], op, size, rate[side]);
      }
      push(pairs, op, size, rate.ours / rate.reference);
      done += count;
    }
  };
  try {
    // Warm-up (untimed): connections, JIT, each size's code paths. These objects stay (no
    // deletes before the timed stores); listings count them on both sides alike.
    for (const side of Object.values(sides)) {
      for (const { size } of sizes) {
        const count = size <= 64 * KiB ? 50 : 2;
        await side.run({ op: "store", ns: nsOf(size), size, start: WARM, count });
        await side.run({ op: "load", ns: nsOf(size), size, start: WARM, count });
        await side.run({ op: "info", ns: nsOf(size), size, start: WARM, count });
        await side.run({ op: "list", ns: nsOf(size), size, start: 0, count: 2 });
      }
      await side.run({ op: "store", ns: WARM_NS, size: KiB, start: 0, count: WARM_OPS });
      await side.run({ op: "load", ns: WARM_NS, size: KiB, start: 0, count: WARM_OPS });
      await side.run({ op: "info", ns: WARM_NS, size: KiB, start: 0, count: 3 * WARM_OPS, of: WARM_OPS });
      await side.run({ op: "list", ns: WARM_NS, size: KiB, start: 0, count: 20 });
    }
    for (let round = 0; round < rounds; round++)
      for (const { size, count } of sizes) await both(round, "store", size, { start: round * count, count });
    for (let round = 0; round < rounds; round++)
      for (const { size, count } of sizes) {
        const stored = rounds * count;
        await both(round, "load", size, { start: round * count, count });
        await both(round, "info", size, { start: 0, count: Math.max(stored, INFO_MIN), of: stored });
        await both(round, "list", size, { start: 0, count: LISTINGS });
      }
    // Deletes warmed up only now: no file is created after them.
    for (const side of Object.values(sides)) await side.run({ op: "delete", ns: WARM_NS, size: KiB, start: 0, count: WARM_OPS });
    for (let round = 0; round < rounds; round++)
      for (const { size, count } of sizes) await both(round, "delete", size, { start: round * count, count });
    for (const side of Object.values(sides)) await side.stop();
  } finally {
    await ours.stop();
    await reference.stop();
    rmSync(work, { recursive: true, force: true });
  }
  // Medians of the slices' rates: a burst of other work on the shared machine spoils a slice or
  // two, not the figure.
  const below = [];
  for (const op of OPS)
    for (const { size, label } of sizes) {
      const ratio = median(pairs[op][size]);
      const [low, high] = middleHalf(pairs[op][size]);
      const cpuText = `server CPU/op ${fmtMs(median(cpu.ours[op][size]))} vs ${fmtMs(median(cpu.reference[op][size]))} ms`;
      if (ratio < 1) below.push(`${op} ${label} ×${ratio.toFixed(2)}`);
      ctx.report({
        case: `python client ${op} ${label}`,
        value: median(rates.ours[op][size]),
        unit: op === "list" ? "listings/s" : "ops/s",
        reference: median(rates.reference[op][size]),
        referenceLabel: "Python server",
        ratio,
        met: ratio >= 1,
        target: `≥ 1.0: ${ratio >= 1 ? "met" : "BELOW 1.0"} (pairs ×${low.toFixed(2)}–${high.toFixed(2)}; ${cpuText})`,
      });
    }
  process.stderr.write(below.length === 0 ? "python client: every row ≥ 1.0\n" : `python client: BELOW 1.0: ${below.join(", ")}\n`);
}

/** CPU time a process has used so far, all its threads, in milliseconds (Linux). */
function cpuMs(pid) {
  let ns = 0;
  try {
    for (const task of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return Number.NaN;
  }
  return ns / 1e6;
}

const fmtMs = (ms) => (ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/** The first and third quartiles. */
function middleHalf(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
  return [at(0.25), at(0.75)];
}
