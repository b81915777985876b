// Store.hash — the digest of a stored object, computed where the object lives — for every
// algorithm at 1 KiB, 64 KiB and 4 MiB, sequential (one hash at a time, as borg asks), through
//   - posixfs: our Store over posixfs / the reference's Store over its posixfs backend,
//   - rest:    our Store → backend-rest → our server (child process) / the reference's Store →
//              its RestBackend → its server (child process),
//   - rest, Python client: the reference's Store and RestBackend → our server / → its server (the
//              servers alone compared),
// all on the SAME objects in one store folder, in this run (issue 18). Each case runs ours
// and the reference's in short windows, alternating (A/B, B/A, …), and keeps each side's best window. Reported:
// ours in hashes/s with ours/reference as the ratio (through posixfs also per CPU second, without a
// target), target ≥ 1.0 where both have the algorithm
// (hashlib's guaranteed ones; blake3 only if the reference's optional package is installed,
// xxh64/xxh3/xxh128 are ours alone). Both sides' digests must agree, or the suite fails.
// Through posixfs both sides run the same OpenSSL code (Node's bundled 3.0.19, Debian's 3.0.19;
// 4 MiB in memory: sha3_512 23.8 vs 23.8 ms, sha1 3.5 vs 3.4 ms of CPU), so ours can lead only by
// what is not hashing: at 1 KiB its lower per-call cost (2-3×); at 64 KiB the same, a smaller
// share (CPU rows 1.04-1.37×, three runs); at 4 MiB only the read, which ours does in the thread
// pool while it hashes the piece before. Per CPU second the 4 MiB rows are 0.95-1.06× (three
// runs): the same work. On a quiet machine the 4 MiB lead is what the read costs the reference
// (~0.5 ms): ~15% of a sha1 hash, 2-4% of a SHA-3 one (12-24 ms), so the SHA-3 rows sit at
// 1.0-1.05 and flip with noise; no JS or wasm Keccak beats OpenSSL's (hash-wasm's SHA3-256 takes
// 1.4-1.9× its CPU). On a loaded machine the 4 MiB wall-clock ratio measures scheduling: ours has
// two runnable threads (hash, read) to the reference's one and so gets a larger share (2.4-7× seen
// at a load average of 13-21 on 2 cores, the CPU rows at 1.0). Read the CPU rows, run on a quiet
// machine, or run with --no-fail-targets. Through posixfs 8 windows of 0.15 s each, so that each side
// finds a quiet moment (a few long windows let a burst of other work decide); through REST, 3 of 0.2 s.
// BENCH_HASH_WINDOWS / BENCH_HASH_SECONDS: the number and least length of the windows, everywhere.
// BENCH_HASH_ALGORITHMS="sha256,xxh64", BENCH_HASH_SIZES="65536", BENCH_HASH_TRANSPORTS="posixfs": subsets.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { Store, supportedHashAlgorithms } from "@borgstore/core";
import { referenceEnv, requireReferencePeer, startReferenceServer } from "@borgstore/testkit";
import { KiB, MiB, startLineDriver, startOurServer } from "../../../scripts/bench/lib.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const SERVER_CLI = here("../dist/cli.js");
const DRIVER = here("./hash-driver.py");
// backend-rest is not a dependency of the server package: load its build by path.
const { RestBackend } = await import(new URL("../../backend-rest/dist/index.js", import.meta.url).href);

const NS = "data/";
const CONFIG = { [NS]: { levels: [0] } };
const SIZES = [
  { size: KiB, label: "1 KiB", objects: 200 },
  { size: 64 * KiB, label: "64 KiB", objects: 64 },
  { size: 4 * MiB, label: "4 MiB", objects: 8 },
];
const WINDOWS = { posixfs: { count: 8, seconds: 0.15 }, rest: { count: 3, seconds: 0.2 } };

/** One reference driver process (hash-driver.py) on one URL. */
function startDriver(peer, url) {
  const driver = startLineDriver(peer.python, [DRIVER, url, NS], { env: referenceEnv(peer), what: `reference hash driver for ${url}` });
  return {
    async hashRate(algorithm, names, minSeconds) {
      const { ops, seconds, cpu, digest } = await driver.run({ algorithm, names, minSeconds });
      return { rate: ops / seconds, cpuRate: ops / cpu, digest };
    },
    stop: () => driver.stop(),
  };
}

/** Ours: the same loop as the driver's, in this process. */
function ourSide(store) {
  return {
    async hashRate(algorithm, names, minSeconds) {
      const digest = await store.hash(names[0], { algorithm });
      let ops = 0;
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (;;) {
        await store.hash(names[ops % names.length], { algorithm });
        ops++;
        const seconds = (performance.now() - start) / 1000;
        if (seconds >= minSeconds) {
          const used = process.cpuUsage(cpu);
          return { rate: ops / seconds, cpuRate: ops / ((used.user + used.system) / 1e6), digest };
        }
      }
    },
  };
}

async function openStore(backend) {
  const store = new Store({ backend, config: CONFIG, latency: 0, bandwidth: 0 });
  await store.open();
  return store;
}

/** Algorithms the reference's Python can hash (hashlib, plus blake3 if its package is there). */
async function referenceAlgorithms(peer, algorithms) {
  const code = `import sys, json
from borgstore.utils import hashing
ok = []
for a in json.loads(sys.argv[1]):
    try:
        hashing.new(a)
        ok.append(a)
    except ValueError:
        pass
print(json.dumps(ok))`;
  const child = spawn(peer.python, ["-c", code, JSON.stringify(algorithms)], { env: referenceEnv(peer), stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (t) => {
    out += t;
  });
  const status = await new Promise((resolve) => child.once("exit", resolve));
  if (status !== 0) throw new Error("could not ask the reference which algorithms it has");
  return new Set(JSON.parse(out));
}

export default async function bench(ctx) {
  const peer = requireReferencePeer("hash bench", ["requests"]) ?? ctx.missing("the Python reference (shared/reference, python3-requests)");
  const windowsFor = (kind) => {
    const preset = kind === "posixfs" ? WINDOWS.posixfs : WINDOWS.rest;
    return { count: Number(ctx.env.BENCH_HASH_WINDOWS ?? preset.count), seconds: Number(ctx.env.BENCH_HASH_SECONDS ?? preset.seconds) };
  };
  const only = ctx.env.BENCH_HASH_ALGORITHMS?.split(",");
  const algorithms = supportedHashAlgorithms().filter((a) => !only || only.includes(a));
  const onlySizes = ctx.env.BENCH_HASH_SIZES?.split(",").map(Number);
  const sizes = SIZES.filter((s) => !onlySizes || onlySizes.includes(s.size));
  const onlyTransports = ctx.env.BENCH_HASH_TRANSPORTS?.split(",");
  const theirs = await referenceAlgorithms(peer, algorithms);
  // The wall-clock rows mean little on a loaded machine (see above): say how loaded it was.
  const showLoad = (when) => process.stderr.write(`hash bench: load average ${when}: ${loadavg().map((l) => l.toFixed(1)).join(" ")}\n`);
  showLoad("at start");
  const work = mkdtempSync(join(tmpdir(), "borgstore-bench-hash-"));
  const dir = join(work, "store");
  const cleanups = [];
  try {
    // The objects, stored once; every side hashes these same files.
    const writer = new Store({ backend: new PosixFsBackend({ path: dir }), config: CONFIG, latency: 0, bandwidth: 0 });
    await writer.create();
    await writer.open();
    const namesBySize = new Map();
    for (const { size, objects } of SIZES) {
      const names = Array.from({ length: objects }, (_, i) => `${NS}s${size}-${String(i).padStart(4, "0")}`);
      for (const name of names) await writer.store(name, randomBytes(size));
      namesBySize.set(size, names);
    }
    await writer.close();

    const ourServer = await startOurServer(SERVER_CLI, dir);
    cleanups.push(() => ourServer.stop());
    const referenceServer = await startReferenceServer(peer, { backend: `file://${dir}` });
    cleanups.push(() => referenceServer.stop());
    const posixStore = await openStore(new PosixFsBackend({ path: dir }));
    cleanups.push(() => posixStore.close());
    const restStore = await openStore(new RestBackend({ url: ourServer.url, env: {} }));
    cleanups.push(() => restStore.close());
    const transports = [
      { kind: "posixfs", ours: ourSide(posixStore), reference: startDriver(peer, `file://${dir}`) },
      { kind: "rest", ours: ourSide(restStore), reference: startDriver(peer, referenceServer.url) },
      { kind: "rest, Python client", ours: startDriver(peer, ourServer.url), reference: startDriver(peer, referenceServer.url) },
    ];
    for (const side of transports.flatMap((t) => [t.ours, t.reference])) if (side.stop) cleanups.push(() => side.stop());

    // Untimed warm-up: JIT, wasm instances, connections, page cache.
    for (const { ours, reference } of transports)
      for (const algorithm of ["sha256", "xxh64", "blake3", "xxh3"]) {
        for (const { size } of SIZES) await ours.hashRate(algorithm, namesBySize.get(size), 0.02);
        if (theirs.has(algorithm)) await reference.hashRate(algorithm, namesBySize.get(KiB), 0.02);
      }

    for (const { kind, ours, reference } of transports.filter((t) => !onlyTransports || onlyTransports.includes(t.kind)))
      for (const { size, label } of sizes)
        for (const algorithm of algorithms) {
          const names = namesBySize.get(size);
          const both = theirs.has(algorithm);
          const sides = both ? { ours, reference } : { ours };
          const best = { ours: 0, reference: 0 };
          const bestCpu = { ours: 0, reference: 0 };
          const digests = {};
          const windows = windowsFor(kind);
          for (let round = 0; round < windows.count; round++) {
            const order = round % 2 === 0 ? Object.keys(sides) : Object.keys(sides).reverse();
            for (const side of order) {
              const r = await sides[side].hashRate(algorithm, names, windows.seconds);
              best[side] = Math.max(best[side], r.rate);
              bestCpu[side] = Math.max(bestCpu[side], r.cpuRate);
              digests[side] = r.digest;
            }
          }
          if (both && digests.ours !== digests.reference)
            throw new Error(`${kind} ${algorithm} ${label}: digest ${digests.ours} (ours) ≠ ${digests.reference} (reference)`);
          // In-process (posixfs) also per CPU second, which the shared machine's other work does not
          // inflate (across processes the server's CPU is elsewhere); the target stays on wall time.
          const onCpu = kind === "posixfs";
          ctx.report({
            case: `${kind} hash ${algorithm} ${label}`,
            value: best.ours,
            unit: "hashes/s",
            reference: both ? best.reference : undefined,
            referenceLabel: both ? "Python reference, same objects" : undefined,
            target: both ? "≥ 1.0" : undefined,
            met: both ? best.ours >= best.reference : undefined,
          });
          if (onCpu)
            ctx.report({
              case: `${kind} hash ${algorithm} ${label}, per CPU second`,
              value: bestCpu.ours,
              unit: "hashes/CPU-s",
              reference: both ? bestCpu.reference : undefined,
              referenceLabel: both ? "Python reference, same objects" : undefined,
            });
        }
  } finally {
    showLoad("at end");
    for (const cleanup of cleanups.reverse()) await cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}
