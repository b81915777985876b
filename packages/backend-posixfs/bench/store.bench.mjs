// Store over posixfs and over memory: ops/s for store / load / info / delete at 1 KiB, 64 KiB and
// 4 MiB with 1 and 16 operations in flight, and a list of 100,000 items in a 2-level namespace.
// Every posixfs row's reference is the unmodified Python reference measured in this run on the
// same disk (reference-store-driver.py --posixfs: its posixfs backend imported as a library and called in
// a sequential loop, as borg does; its Store for the list). Each phase runs beside ours, cut into
// slices that alternate which side goes first; each side's rate is the median of its slices, so a
// burst of other work on this shared machine spoils a slice, not the figure. Target: at least the
// reference everywhere (store ≥ 1.5× at 1 KiB with 16 in flight).
//
// Order matters on a filesystem like this VM's (ext4 without a journal): for minutes after a file
// is deleted, ext4 skips its inode when allocating, reading inode table blocks to check each one,
// so every create after a mass delete gets slower (measured: a Python create loop went from 9,000/s
// to 1,800/s after a few thousand deletes). So every create of both sides, the list's 100,000
// included, comes first; reads next; deletes, and the stores into the directories they leave,
// last. The stores are removed only when the suite ends.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { MemoryBackend, Store } from "@borgstore/core";
import { referenceEnv, requireReferencePeer } from "@borgstore/testkit";
import { KiB, MiB, countFor, measure, median, startLineDriver } from "../../../scripts/bench/lib.mjs";

const CONFIG = { "data/": { levels: [2] } };
const SIZES = [
  { size: KiB, label: "1 KiB" },
  { size: 64 * KiB, label: "64 KiB" },
  { size: 4 * MiB, label: "4 MiB" },
];
const IN_FLIGHT = [1, 16];
const LIST_ITEMS = Number(process.env.BORGSTORE_BENCH_LIST_ITEMS ?? 100_000);
/** Where the stores live (default: the system temp directory). */
const BENCH_DIR = process.env.BORGSTORE_BENCH_DIR ?? tmpdir();
/** Parts each phase is cut into, alternating which side goes first. */
const SLICES = 4;
/** Listings each side times (alternating), the median reported. */
const LISTINGS = 3;
/** Reads go over their objects this many times: a phase of a few milliseconds is mostly noise. */
const readPasses = (size) => (size <= 4 * KiB ? 5 : size <= 64 * KiB ? 2 : 4);
const DRIVER = fileURLToPath(new URL("../../../scripts/bench/reference-store-driver.py", import.meta.url));

/**
 * Loads into the caller's reused buffers (`load(name, { into })`): no fresh memory per load.
 * What fresh memory costs a plain 4 MiB load (issue 13, measured with 16 in flight, 1,000 loads):
 * 1.4-1.6 ms of CPU per load against the reference loop's 0.46-0.59 ms. The kernel's copy is the
 * same on both sides (a third of perf's samples); on top of it ours takes 90-220 minor page faults
 * per load to the reference's 0 (glibc hands freed 4 MiB blocks back to the kernel, while the
 * reference's loop gets its one block back from malloc each time) and V8's major GCs, which
 * external memory pressure starts (~12% of samples). Neither is the library's to remove for a
 * buffer it hands over; `into` removes both. GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:
 * glibc.malloc.trim_threshold=268435456 took one-at-a-time loads from 32-174 faults to 1-10
 * (CPU 0.7-1.3 → 0.58-0.99 ms), 16 in flight only from 87-107 to 48-66 (CPU about the same).
 */
const INTO = "load into reused buffers";

const keyOf = (i) => createHash("sha256").update(String(i)).digest("hex");

/** A new open Store over a new posixfs directory; what removes it is pushed onto `cleanups`. */
async function openPosixStore(cleanups) {
  const dir = mkdtempSync(join(BENCH_DIR, "borgstore-bench-"));
  const store = new Store({ backend: new PosixFsBackend({ path: join(dir, "store") }), config: CONFIG, latency: 0, bandwidth: 0 });
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.create();
  await store.open();
  return store;
}

/** A short untimed round, so the first measured case does not pay for JIT warm-up (deletes nothing). */
async function warmUp(store) {
  const value = randomBytes(KiB);
  const keys = Array.from({ length: 1000 }, (_, i) => `data/${keyOf(`warm${i}`)}`);
  for (const op of ["store", "load", "info"])
    await measure((i) => (op === "store" ? store.store(keys[i], value) : store[op](keys[i])), { count: keys.length, inFlight: 4 });
}

/** Our side of a phase: `op` on objects start..start+count-1, each `passes` times; resolves with ops/s. */
function ourSide(c, op) {
  const { store, keys, value, inFlight } = c;
  let run = op.startsWith("store") ? (i) => store.store(keys[i], value) : (i) => store[op](keys[i]);
  if (op === INTO) {
    // One buffer per load in flight, each reused by the loads after it (the caller's pool).
    const buffers = Array.from({ length: inFlight }, () => Buffer.allocUnsafeSlow(value.byteLength));
    run = async (i) => {
      const into = buffers.pop();
      try {
        await store.load(keys[i], { into });
      } finally {
        buffers.push(into);
      }
    };
  }
  return async ({ start, count, passes }) => {
    const r = await measure((i) => run(start + (i % count)), { count: count * passes, inFlight });
    return r.opsPerSec;
  };
}

/** The reference's side of a phase, in its own store named after the case; resolves with ops/s. */
function referenceSide(python, c, op) {
  const store = `${c.size}x${c.inFlight}`;
  return async ({ start, count, passes }) => {
    const { seconds } = await python.run({ op, store, size: c.size, start, count, passes });
    return (count * passes) / seconds;
  };
}

/**
 * Runs a phase of `total` objects on every side in SLICES parts, the order flipping each slice;
 * resolves with each side's median rate.
 */
async function alternate(sides, total, passes) {
  const names = Object.keys(sides);
  const rates = Object.fromEntries(names.map((name) => [name, []]));
  let done = 0;
  for (let k = 0; k < SLICES; k++) {
    const count = Math.round((total * (k + 1)) / SLICES) - done;
    for (const name of k % 2 === 0 ? names : [...names].reverse())
      rates[name].push(await sides[name]({ start: done, count, passes }));
    done += count;
  }
  return Object.fromEntries(names.map((name) => [name, median(rates[name])]));
}

export default async function bench(ctx) {
  const peer =
    requireReferencePeer("posixfs bench: the same-run reference") ?? ctx.missing("the Python reference (shared/reference) for same-run ratios");
  const cleanups = [];
  try {
    await measurePosixFs(ctx, peer, cleanups);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
  await measureMemory(ctx);
}

async function measurePosixFs(ctx, peer, cleanups) {
  let python;
  if (peer) {
    const dir = mkdtempSync(join(BENCH_DIR, "borgstore-bench-py-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    python = startLineDriver(peer.python, [DRIVER, "--posixfs", dir], { env: referenceEnv(peer), what: "the reference posixfs driver" });
    cleanups.push(() => python.stop());
  }
  await warmUp(await openPosixStore(cleanups));
  const cases = [];
  for (const { size, label } of SIZES) {
    const value = randomBytes(size);
    const count = countFor(size, { small: 4000, large: 60 });
    const keys = Array.from({ length: count }, (_, i) => `data/${keyOf(i)}`);
    for (const inFlight of IN_FLIGHT) cases.push({ size, label, inFlight, count, keys, value, store: await openPosixStore(cleanups) });
  }
  const phase = async (op, referenceOp = op) => {
    for (const c of cases) {
      const passes = op.startsWith("load") || op === "info" ? readPasses(c.size) : 1;
      const sides = { ours: ourSide(c, op) };
      if (python) sides.reference = referenceSide(python, c, referenceOp);
      const rates = await alternate(sides, c.count, passes);
      const scale = c.size >= MiB && (op.startsWith("store") || op.startsWith("load")) ? c.size / 1e6 : 1;
      const factor = op === "store" && c.size === KiB && c.inFlight === 16 ? "1.5×" : "1×";
      ctx.report({
        case: `posixfs ${op} ${c.label} ×${c.inFlight}`,
        value: rates.ours * scale,
        unit: scale === 1 ? "ops/s" : "MB/s",
        reference: python ? rates.reference * scale : undefined,
        referenceLabel: "reference posixfs, sequential, same run",
        target: python ? `≥ ${factor} reference` : undefined,
        met: python ? rates.ours / rates.reference >= Number.parseFloat(factor) : undefined,
      });
    }
  };
  await phase("store");
  const listStore = await fillList(python, cleanups);
  await phase("load");
  await phase(INTO, "load");
  await phase("info");
  await measureList(ctx, listStore, python);
  await phase("delete");
  await phase("store, dirs exist", "store");
}

/** The list's items on both sides (creates: before any delete). */
async function fillList(python, cleanups) {
  const store = await openPosixStore(cleanups);
  const small = randomBytes(16);
  await measure((i) => store.store(`data/${keyOf(i)}`, small), { count: LIST_ITEMS, inFlight: 16 });
  await python?.run({ op: "fill", count: LIST_ITEMS });
  return store;
}

async function measureList(ctx, store, python) {
  const ours = [];
  const theirs = [];
  for (let k = 0; k < LISTINGS; k++) {
    let listed = 0;
    const r = await measure(
      async () => {
        for await (const _item of store.list("data")) listed++;
      },
      { count: 1 },
    );
    if (listed !== LIST_ITEMS) throw new Error(`list returned ${listed} of ${LIST_ITEMS} items`);
    ours.push(LIST_ITEMS / r.seconds);
    if (python) {
      const { seconds, items } = await python.run({ op: "list" });
      if (items !== LIST_ITEMS) throw new Error(`the reference listed ${items} of ${LIST_ITEMS} items`);
      theirs.push(LIST_ITEMS / seconds);
    }
  }
  ctx.report({
    case: `posixfs list ${LIST_ITEMS.toLocaleString("en")} items (data/, 2 levels)`,
    value: median(ours),
    unit: "items/s",
    reference: python ? median(theirs) : undefined,
    referenceLabel: "reference Store over posixfs, same run",
    target: python ? "≥ 1× reference" : undefined,
    met: python ? median(ours) >= median(theirs) : undefined,
  });
}

/** The same cases over the memory backend: what Store itself costs (no reference). */
async function measureMemory(ctx) {
  for (const { size, label } of SIZES) {
    const value = randomBytes(size);
    const count = countFor(size, { small: 4000, large: 60 });
    const keys = Array.from({ length: count }, (_, i) => `data/${keyOf(i)}`);
    for (const inFlight of IN_FLIGHT) {
      const store = new Store({ backend: new MemoryBackend(), config: CONFIG, latency: 0, bandwidth: 0 });
      await store.create();
      await store.open();
      for (const op of ["store", "load", "info", "delete"]) {
        const run = op === "store" ? (i) => store.store(keys[i], value) : (i) => store[op](keys[i]);
        const r = await measure(run, { count, inFlight, bytesPerOp: size });
        const moved = size >= MiB && op !== "info" && op !== "delete";
        ctx.report({ case: `memory ${op} ${label} ×${inFlight}`, value: moved ? r.mbPerSec : r.opsPerSec, unit: moved ? "MB/s" : "ops/s" });
      }
      await store.close();
    }
  }
}
