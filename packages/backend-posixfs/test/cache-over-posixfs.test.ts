import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { MemoryBackend, Store } from "@borgstore/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PosixFsBackend } from "../src/index.js";

/**
 * A primary that answers each call 50 ms late (Store latency emulation), as a remote store would:
 * large enough that the misses a cache saves outweigh scheduling noise on a busy 2-core machine.
 */
const LATENCY_US = 50_000;
const KEYS = 20;
const ROUNDS = 5;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-cache-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const key = (i: number) => `data/${i.toString(16).padStart(8, "0")}${"ab".repeat(28)}`;

async function loadRounds(store: Store): Promise<number> {
  const start = performance.now();
  for (let round = 0; round < ROUNDS; round++)
    await Promise.all(Array.from({ length: KEYS }, (_, i) => store.load(key(i))));
  return (performance.now() - start) / 1000;
}

async function populatedStore(cache: "off" | "writethrough", cacheBackend?: PosixFsBackend | MemoryBackend) {
  const primary = new PosixFsBackend({ path: join(dir, "primary") });
  const config = { "data/": { levels: [2], ...(cache === "off" ? {} : { cache }) } };
  const setup = new Store({ backend: primary, config: { "data/": { levels: [2] } } });
  if (!(await readdir(dir)).includes("primary")) {
    await setup.create();
    await setup.open();
    for (let i = 0; i < KEYS; i++) await setup.store(key(i), randomBytes(4096));
    await setup.close();
  }
  return new Store({
    backend: new PosixFsBackend({ path: join(dir, "primary") }),
    config,
    latency: LATENCY_US,
    ...(cacheBackend ? { cacheBackend } : {}),
  });
}

describe("a cache in front of a slow posixfs primary", () => {
  for (const kind of ["posixfs", "memory"] as const) {
    it(`serves repeated loads from a ${kind} cache: hit ratio ${(ROUNDS - 1) / ROUNDS}, far less time`, async () => {
      const uncached = await populatedStore("off");
      await uncached.open();
      const slow = await loadRounds(uncached);
      await uncached.close();

      const cacheBackend =
        kind === "posixfs" ? new PosixFsBackend({ path: join(dir, "cache") }) : new MemoryBackend();
      const cached = await populatedStore("writethrough", cacheBackend);
      await cacheBackend.create();
      await cached.open();
      const fast = await loadRounds(cached);
      const stats = cached.stats;
      await cached.close();

      expect(stats.cache_misses).toBe(KEYS);
      expect(stats.cache_hits).toBe(KEYS * (ROUNDS - 1));
      expect(stats.cache_hit_ratio).toBeCloseTo((ROUNDS - 1) / ROUNDS);
      expect(stats.backend_load_calls).toBe(KEYS);
      // Every miss pays the emulated latency once; hits pay none.
      expect(slow).toBeGreaterThanOrEqual((ROUNDS * KEYS * LATENCY_US) / 1e6 / KEYS);
      expect(fast).toBeLessThan(slow);
      process.stderr.write(
        `cache on ${kind}: ${ROUNDS}×${KEYS} loads in ${fast.toFixed(3)} s vs ${slow.toFixed(3)} s uncached (hit ratio ${stats.cache_hit_ratio})\n`,
      );
    });
  }

  it("keeps the primary's value when the cache directory vanishes underneath", async () => {
    const cacheBackend = new PosixFsBackend({ path: join(dir, "cache") });
    const store = await populatedStore("writethrough", cacheBackend);
    await cacheBackend.create();
    await store.open();
    const first = await store.load(key(1));
    await rm(join(dir, "cache"), { recursive: true, force: true });
    expect(Buffer.from(await store.load(key(1))).equals(Buffer.from(first))).toBe(true);
    await store.store(key(2), new Uint8Array([1, 2, 3]));
    expect([...(await store.load(key(2)))]).toEqual([1, 2, 3]);
    await store.close();
  });
});
