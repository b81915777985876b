// RcloneBackend over a local-directory remote: store / load of 1 KiB and 4 MiB values with 1 and 16
// operations in flight, next to `rclone copy` of the same data between two local directories, and
// next to the unmodified Python reference's rclone backend on the same kind of remote in the same
// run, sequential as borg uses it (reference-store-driver.py). Targets: 16 in flight ≥ 3× the
// reference's small-object rates; everything else at least as fast as the reference. This machine
// is shared (other suites run beside it), so each case is measured ROUNDS times and the best round
// is reported, for the reference as for us, as is each `rclone copy` figure.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { referenceEnv, requireReferencePeer } from "@borgstore/testkit";
import { KiB, MiB, measure, startReferenceStore } from "../../../scripts/bench/lib.mjs";
import { RcloneBackend } from "../dist/index.js";

const SMALL = { size: KiB, label: "1 KiB", count: Number(process.env.BORGSTORE_BENCH_RCLONE_SMALL ?? 2000) };
const LARGE = { size: 4 * MiB, label: "4 MiB", count: Number(process.env.BORGSTORE_BENCH_RCLONE_LARGE ?? 64) };
const IN_FLIGHT = [1, 16];
const ROUNDS = Number(process.env.BORGSTORE_BENCH_RCLONE_ROUNDS ?? 3);
/** Sequential operations per round of the reference (about a second each at its rates). */
const REFERENCE_COUNT = { [KiB]: 400, [4 * MiB]: 24 };
const LABEL = "Python reference, sequential, same run";

const keyOf = (i) => {
  const hex = createHash("sha256").update(String(i)).digest("hex");
  return `data/${hex.slice(0, 2)}/${hex}`;
};

function rate(result, size) {
  // ops/s for small values, MB/s for large ones (as the reference figures are given)
  return size <= KiB ? result.opsPerSec : result.mbPerSec;
}

/** The reference's best sequential rate per size and op (ops/s for 1 KiB, MB/s for 4 MiB). */
async function measureReference(peer, root) {
  const ref = startReferenceStore(peer, referenceEnv(peer), `rclone::local:${join(root, "reference")}`, {
    "": { levels: [0] },
    "data/": { levels: [1] },
  });
  const rates = {};
  try {
    await ref.run({ op: "store", ns: "data", tag: "warm", size: KiB, count: 100 });
    for (const { size } of [SMALL, LARGE]) {
      const count = REFERENCE_COUNT[size];
      for (const op of ["store", "load"]) {
        let best = 0;
        for (let round = 0; round < ROUNDS; round++) {
          const tag = op === "store" ? `${size}-${round}-` : `${size}-0-`;
          best = Math.max(best, rate(await ref.run({ op, ns: "data", tag, size, count }), size));
        }
        rates[`${size}/${op}`] = best;
      }
    }
  } finally {
    await ref.close();
  }
  return rates;
}

async function benchBackend(ctx, root, reference) {
  const backend = new RcloneBackend({ remote: `:local:${join(root, "store")}` });
  await backend.create();
  await backend.open();
  try {
    // Untimed warm-up: JIT, rcd's fs cache, keep-alive connections.
    const warm = randomBytes(KiB);
    await measure((i) => backend.store(`warm/${i}`, warm), { count: 200, inFlight: 16 });
    await measure((i) => backend.load(`warm/${i}`), { count: 200, inFlight: 16 });

    for (const { size, label, count } of [SMALL, LARGE]) {
      const value = randomBytes(size);
      for (const inFlight of IN_FLIGHT) {
        const n = inFlight === 1 && size <= KiB ? Math.ceil(count / 2) : count;
        for (const op of ["store", "load"]) {
          let best = 0;
          for (let round = 0; round < ROUNDS; round++) {
            // Every round stores new objects (borg's common case; an overwrite costs the disk more),
            // and loads what the first round stored.
            const run =
              op === "store"
                ? (i) => backend.store(keyOf(`${inFlight}-${round}-${i}`), value)
                : (i) => backend.load(keyOf(`${inFlight}-0-${i}`));
            best = Math.max(best, rate(await measure(run, { count: n, inFlight, bytesPerOp: size }), size));
          }
          const ref = reference[`${size}/${op}`];
          const wanted = inFlight === 16 && size <= KiB ? 3 : 1;
          ctx.report({
            case: `rclone local ${op} ${label}, ${inFlight} in flight (best of ${ROUNDS})`,
            value: best,
            unit: size <= KiB ? "ops/s" : "MB/s",
            reference: ref,
            referenceLabel: LABEL,
            target: `≥ ×${wanted}`,
            met: best / ref >= wanted,
          });
        }
      }
    }
  } finally {
    await backend.close();
    await backend.destroy();
  }
}

/** `rclone copy` of `count` files of `size` bytes between two local directories: files/s and MB/s. */
function rcloneCopy(root, size, count, transfers) {
  const src = join(root, `copy-src-${size}`);
  const dst = join(root, `copy-dst-${size}-${transfers}`);
  mkdirSync(src, { recursive: true });
  const value = randomBytes(size);
  for (let i = 0; i < count; i++) writeFileSync(join(src, keyOf(i).slice(8)), value);
  let seconds = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    rmSync(dst, { recursive: true, force: true });
    const start = performance.now();
    execFileSync(process.env.RCLONE_BINARY ?? "rclone", ["copy", src, dst, "--transfers", String(transfers)], { stdio: "ignore" });
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  return { filesPerSec: count / seconds, mbPerSec: (count * size) / seconds / 1e6 };
}

export default async function (ctx) {
  const peer = requireReferencePeer("rclone bench") ?? ctx.missing("the Python reference (shared/reference/)");
  const root = mkdtempSync(join(tmpdir(), "borgstore-bench-rclone-"));
  try {
    const reference = await measureReference(peer, root);
    await benchBackend(ctx, root, reference);
    for (const transfers of [4, 16]) {
      const small = rcloneCopy(root, KiB, 1000, transfers);
      ctx.report({
        case: `rclone copy 1000 × 1 KiB files, local → local, --transfers ${transfers} (best of ${ROUNDS})`,
        value: small.filesPerSec,
        unit: "files/s",
        reference: reference[`${KiB}/store`],
        referenceLabel: "reference store, sequential, same run",
      });
      const large = rcloneCopy(root, 4 * MiB, LARGE.count, transfers);
      ctx.report({
        case: `rclone copy ${LARGE.count} × 4 MiB files, local → local, --transfers ${transfers} (best of ${ROUNDS})`,
        value: large.mbPerSec,
        unit: "MB/s",
        reference: reference[`${4 * MiB}/store`],
        referenceLabel: "reference store, sequential, same run",
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
