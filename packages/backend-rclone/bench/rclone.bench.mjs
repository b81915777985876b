// RcloneBackend over a local-directory remote: store / load of 1 KiB and 4 MiB values with 1 and 16
// operations in flight, next to `rclone copy` of the same data between two local directories.
// Reference figures: the Python reference's sequential rclone backend over a local-directory remote
// (issue 6): 1 KiB store 450/s, load 600/s; 4 MiB store 120–190 MB/s, load 370–480 MB/s (the top
// of each range is used). Target: 16 in flight ≥ 3× the small-object rates; large objects at least
// as fast as the reference. This machine is shared (other suites run beside it), so each case is
// measured ROUNDS times and the best round is reported, as is each `rclone copy` figure.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { KiB, MiB, measure } from "../../../scripts/bench/lib.mjs";
import { RcloneBackend } from "../dist/index.js";

const SMALL = { size: KiB, label: "1 KiB", count: Number(process.env.BORGSTORE_BENCH_RCLONE_SMALL ?? 2000) };
const LARGE = { size: 4 * MiB, label: "4 MiB", count: Number(process.env.BORGSTORE_BENCH_RCLONE_LARGE ?? 64) };
const IN_FLIGHT = [1, 16];
const ROUNDS = Number(process.env.BORGSTORE_BENCH_RCLONE_ROUNDS ?? 3);
const REFERENCE = {
  [KiB]: { store: { value: 450, unit: "ops/s" }, load: { value: 600, unit: "ops/s" } },
  [4 * MiB]: { store: { value: 190, unit: "MB/s" }, load: { value: 480, unit: "MB/s" } },
};

const keyOf = (i) => {
  const hex = createHash("sha256").update(String(i)).digest("hex");
  return `data/${hex.slice(0, 2)}/${hex}`;
};

function rate(result, size) {
  // ops/s for small values, MB/s for large ones (as the reference figures are given)
  return size <= KiB ? result.opsPerSec : result.mbPerSec;
}

async function benchBackend(ctx, root) {
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
          const reference = REFERENCE[size][op];
          ctx.report({
            case: `rclone local ${op} ${label}, ${inFlight} in flight (best of ${ROUNDS})`,
            value: best,
            unit: reference.unit,
            reference: reference.value,
            referenceLabel: `reference sequential ${reference.value} ${reference.unit}`,
            target: inFlight === 16 ? (size <= KiB ? "≥ ×3" : "≥ ×1") : "",
            met: inFlight === 16 ? best / reference.value >= (size <= KiB ? 3 : 1) : undefined,
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
  const root = mkdtempSync(join(tmpdir(), "borgstore-bench-rclone-"));
  try {
    await benchBackend(ctx, root);
    for (const transfers of [4, 16]) {
      const small = rcloneCopy(root, KiB, 1000, transfers);
      ctx.report({
        case: `rclone copy 1000 × 1 KiB files, local → local, --transfers ${transfers} (best of ${ROUNDS})`,
        value: small.filesPerSec,
        unit: "files/s",
        reference: REFERENCE[KiB].store.value,
        referenceLabel: "reference store 450 ops/s",
      });
      const large = rcloneCopy(root, 4 * MiB, LARGE.count, transfers);
      ctx.report({
        case: `rclone copy ${LARGE.count} × 4 MiB files, local → local, --transfers ${transfers} (best of ${ROUNDS})`,
        value: large.mbPerSec,
        unit: "MB/s",
        reference: REFERENCE[4 * MiB].store.value,
        referenceLabel: "reference store 190 MB/s",
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
