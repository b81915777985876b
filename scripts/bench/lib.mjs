// Shared measuring helpers for the bench suites (packages/*/bench/*.bench.mjs).
import { performance } from "node:perf_hooks";

/**
 * Runs `op(i)` `count` times with `inFlight` operations outstanding at once and returns the rate.
 * `bytesPerOp` turns it into MB/s as well.
 */
export async function measure(op, { count, inFlight = 1, bytesPerOp = 0 }) {
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await op(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { count, seconds, opsPerSec: count / seconds, mbPerSec: (count * bytesPerOp) / seconds / 1e6 };
}

/** Picks an operation count that keeps a case around `targetSeconds` given a guessed rate. */
export function countFor(size, { small = 2000, large = 40 } = {}) {
  if (size <= 4096) return small;
  if (size <= 65536) return Math.max(large, Math.floor(small / 4));
  return large;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
