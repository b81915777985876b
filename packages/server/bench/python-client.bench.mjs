// The unmodified Python client (reference Store over RestBackend, sequential, as borg uses it)
// against our server and against the reference's own server, same machine, same run (issue 12.3).
// Each server serves a posixfs store in its own temp folder on the same disk, with its defaults
// (neither fsyncs). One Python driver process per server (python-client-driver.py) times each
// phase; the two servers' phases alternate (A/B, then B/A in the next round) so that load and
// disk state are alike. All stores of new objects come before any delete: mass deletes on this
// kind of ext4 slow later file creates for minutes. Reported: ours/reference ops/s (medians of
// the phases' slices), target ≥ 1.0.
// BENCH_PYTHON_ROUNDS (default 2) sets the rounds; BENCH_PYTHON_SIZES="1024,4194304" a subset;
// BENCH_CPU_PROF_DIR makes our server write a CPU profile there.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { referenceEnv, requireReferencePeer, startReferenceServer } from "@borgstore/testkit";
import { KiB, MiB, freePort, waitAccepting } from "../../../scripts/bench/lib.mjs";

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
const OPS = ["store", "load", "info", "list", "delete"];

async function startOurServer(storeDir) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [SERVER_CLI, "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning", "--backend", `FILE:${storeDir}`],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...cpuProfileEnv() } },
  );
  await waitAccepting(port, "borgstore-server-rest");
  return {
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** BENCH_CPU_PROF_DIR: our server writes a CPU profile there (node --cpu-prof). */
function cpuProfileEnv() {
  const dir = process.env.BENCH_CPU_PROF_DIR;
  return dir ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --cpu-prof --cpu-prof-dir=${dir}` } : {};
}

/** One Python driver: send a command, get the seconds it took. */
function startDriver(peer, url, namespaces) {
  const child = spawn(peer.python, [DRIVER, url, namespaces.join(",")], {
    env: referenceEnv(peer),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (t) => {
    stderr = (stderr + t).slice(-8192);
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    async run(cmd) {
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
      const { value, done } = await lines.next();
      if (done) throw new Error(`python driver for ${url} ended: ${stderr}`);
      return JSON.parse(value).seconds;
    },
    async stop() {
      child.stdin.end();
      const code = await exited;
      if (code !== 0) throw new Error(`python driver for ${url} exited with ${code}: ${stderr}`);
    },
  };
}

export default async function bench(ctx) {
  const peer = requireReferencePeer("python-client bench", ["requests"]) ?? ctx.missing("the Python reference (shared/reference, python3-requests)");
  const rounds = Number(ctx.env.BENCH_PYTHON_ROUNDS ?? 2);
  const only = ctx.env.BENCH_PYTHON_SIZES?.split(",").map(Number);
  const sizes = only ? SIZES.filter((s) => only.includes(s.size)) : SIZES;
  const nsOf = (size) => `s${size}/`;
  const namespaces = sizes.map(({ size }) => nsOf(size));
  const work = mkdtempSync(join(tmpdir(), "borgstore-bench-pyclient-"));
  const ours = await startOurServer(join(work, "ours"));
  const reference = await startReferenceServer(peer, { backend: `file://${join(work, "reference")}` });
  const sides = {
    ours: startDriver(peer, ours.url, namespaces),
    reference: startDriver(peer, reference.url, namespaces),
  };
  // rates[side][op][size]: operations per second of each slice (each paired with the other
  // side's slice of the same operations, run right before or after it).
  const rates = { ours: {}, reference: {} };
  const add = (op, size, side, seconds, n) => {
    rates[side][op] ??= {};
    (rates[side][op][size] ??= []).push(n / seconds);
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
      for (const side of order) add(op, size, side, await sides[side].run(part), count);
      done += count;
    }
  };
  try {
    // Warm-up (untimed): connections, JIT, each size's code paths. These objects stay (no
    // deletes before the timed stores); listings count them on both sides alike.
    for (const side of Object.values(sides))
      for (const { size } of sizes) {
        const count = size <= 64 * KiB ? 50 : 2;
        await side.run({ op: "store", ns: nsOf(size), size, start: WARM, count });
        await side.run({ op: "load", ns: nsOf(size), size, start: WARM, count });
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
  for (const op of OPS)
    for (const { size, label } of sizes) {
      const value = median(rates.ours[op][size]);
      const ref = median(rates.reference[op][size]);
      ctx.report({
        case: `python client ${op} ${label}`,
        value,
        unit: op === "list" ? "listings/s" : "ops/s",
        reference: ref,
        referenceLabel: "Python server",
        target: `≥ 1.0: ${value >= ref ? "met" : "MISSED"}`,
      });
    }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
