import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { BackendAlreadyExists, Store } from "@borgstore/core";
import type { Output } from "./output.js";

/** What `borgstore bench` measures: every size at every concurrency. */
export interface BenchOptions {
  /** Value sizes in bytes to store and load. */
  sizes: number[];
  /** Numbers of operations run concurrently. */
  inFlight: number[];
  /** Seconds per case, roughly (each case stops after this time or `maxCount` operations). */
  seconds: number;
  /** Most operations per case. */
  maxCount: number;
  /** Emulated latency per call in µs (Store's `latency`). */
  latency?: number;
  /** Emulated bandwidth in bit/s (Store's `bandwidth`). */
  bandwidth?: number;
}

/** One measured case. */
export interface BenchRow {
  /** The operation measured (store, load, list, …). */
  operation: string;
  /** Value size in bytes. */
  size: number;
  /** Operations run concurrently. */
  inFlight: number;
  /** Operations completed. */
  count: number;
  /** Operations per second. */
  opsPerSec: number;
  /** Megabytes (10^6 bytes) per second. */
  mbPerSec: number;
}

async function timed(
  op: (i: number) => Promise<unknown>,
  inFlight: number,
  maxCount: number,
  seconds: number,
): Promise<{ count: number; elapsed: number }> {
  let next = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async () => {
    while (next < maxCount && performance.now() < deadline) await op(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { count: next, elapsed: (performance.now() - start) / 1000 };
}

function row(operation: string, size: number, inFlight: number, count: number, elapsed: number): BenchRow {
  return { operation, size, inFlight, count, opsPerSec: count / elapsed, mbPerSec: (count * size) / elapsed / 1e6 };
}

/**
 * Measures a store at `url`: creates it (the location must be empty — bench never touches an
 * existing store), stores, loads, infos, lists and deletes values of each size with each number
 * of operations in flight, then destroys it.
 */
export async function runBench(url: string, options: BenchOptions, report: (r: BenchRow) => void): Promise<BenchRow[]> {
  const store = await Store.fromUrl(url, {
    config: { "bench/": { levels: [1] } },
    latency: options.latency,
    bandwidth: options.bandwidth,
  });
  try {
    await store.create();
  } catch (err) {
    if (err instanceof BackendAlreadyExists)
      throw new BackendAlreadyExists(`bench needs an empty location (it creates and destroys a store there): ${url}`, {
        cause: err,
      });
    throw err;
  }
  const rows: BenchRow[] = [];
  const add = (r: BenchRow) => {
    rows.push(r);
    report(r);
  };
  await store.open();
  try {
    for (const size of options.sizes) {
      const value = randomBytes(size);
      for (const inFlight of options.inFlight) {
        const prefix = `bench/${size.toString(16).padStart(8, "0")}${inFlight.toString(16).padStart(4, "0")}`;
        const key = (i: number) => `${prefix}${i.toString(16).padStart(12, "0")}`;
        const stored = await timed((i) => store.store(key(i), value), inFlight, options.maxCount, options.seconds);
        add(row("store", size, inFlight, stored.count, stored.elapsed));
        const n = stored.count;
        const loaded = await timed((i) => store.load(key(i % n)), inFlight, options.maxCount, options.seconds);
        add(row("load", size, inFlight, loaded.count, loaded.elapsed));
        const infos = await timed((i) => store.info(key(i % n)), inFlight, options.maxCount, options.seconds);
        add(row("info", 0, inFlight, infos.count, infos.elapsed));
        const deleted = await timed((i) => store.delete(key(i)), inFlight, n, Number.POSITIVE_INFINITY);
        add(row("delete", 0, inFlight, deleted.count, deleted.elapsed));
      }
    }
    const listCount = Math.min(options.maxCount, 2000);
    const small = new Uint8Array(16);
    await timed((i) => store.store(`bench/list${i.toString(16).padStart(8, "0")}`, small), 16, listCount, Number.POSITIVE_INFINITY);
    const start = performance.now();
    let listed = 0;
    for await (const _ of store.list("bench")) listed++;
    const elapsed = (performance.now() - start) / 1000;
    add({ operation: "list", size: 0, inFlight: 1, count: listed, opsPerSec: listed / elapsed, mbPerSec: 0 });
  } finally {
    await store.close();
    await store.destroy();
  }
  return rows;
}

export function printBenchRow(out: Output, r: BenchRow): void {
  if (out.json) return;
  const size = r.size === 0 ? "-" : r.size >= 1 << 20 ? `${r.size >> 20} MiB` : r.size >= 1024 ? `${r.size >> 10} KiB` : `${r.size} B`;
  out.line(
    `${r.operation.padEnd(7)} ${size.padStart(8)} ${String(r.inFlight).padStart(9)} ${String(r.count).padStart(8)} ${r.opsPerSec.toFixed(0).padStart(10)} ${r.size ? r.mbPerSec.toFixed(1).padStart(10) : "-".padStart(10)}`,
  );
}

export const BENCH_HEADER = `${"op".padEnd(7)} ${"size".padStart(8)} ${"in flight".padStart(9)} ${"count".padStart(8)} ${"ops/s".padStart(10)} ${"MB/s".padStart(10)}`;

