import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import {
  BackendError,
  CacheMode,
  InvalidArgument,
  type LoadOptions,
  MemoryBackend,
  type NamespaceConfig,
  ObjectNotFound,
  Store,
} from "../src/index.js";
import { bytes, collect, names, text } from "./helpers.js";

type Op = "store" | "load" | "move" | "delete" | "list" | "open";

/** A MemoryBackend that can be told to fail (a broken cache disk), and records the ranges it was asked for. */
class FlakyMemory extends MemoryBackend {
  constructor(clock?: () => number) {
    super({ clock });
  }
  readonly failing = new Set<Op>();
  readonly loads: Array<[string, LoadOptions]> = [];
  closes = 0;

  #check(op: Op) {
    if (this.failing.has(op)) throw new BackendError(`injected ${op} failure`);
  }
  protected override async _store(name: string, value: Uint8Array) {
    this.#check("store");
    return super._store(name, value);
  }
  protected override async _load(name: string, options: LoadOptions) {
    this.#check("load");
    this.loads.push([name, options]);
    return super._load(name, options);
  }
  protected override async _move(from: string, to: string) {
    this.#check("move");
    return super._move(from, to);
  }
  protected override async _delete(name: string) {
    this.#check("delete");
    return super._delete(name);
  }
  protected override async *_list(name: string) {
    this.#check("list");
    yield* super._list(name);
  }
  protected override async _open() {
    this.#check("open");
    return super._open();
  }
  protected override async _close() {
    this.closes++;
    return super._close();
  }
}

const warnings: string[] = [];
const logger = { warn: (message: string) => void warnings.push(message) };

afterEach(() => {
  warnings.length = 0;
  delete process.env.BORGSTORE_LATENCY;
  delete process.env.BORGSTORE_BANDWIDTH;
});

function layout(mode: CacheMode, extra: Partial<NamespaceConfig> = {}): Record<string, NamespaceConfig> {
  return {
    "data/": { levels: [2], cache: mode, ...extra },
    "meta/": { levels: [1], cache: mode, ...extra },
    "config/": { levels: [0] },
  };
}

interface Setup {
  store: Store;
  primary: FlakyMemory;
  cache: FlakyMemory;
  time: { now: number };
}

async function setup(
  config: Record<string, NamespaceConfig>,
  options: { latency?: number; bandwidth?: number } = {},
): Promise<Setup> {
  const time = { now: 1_700_000_000 };
  const clock = () => time.now;
  const primary = new FlakyMemory(clock);
  const cache = new FlakyMemory(clock);
  const store = new Store({ backend: primary, cacheBackend: cache, config, logger, clock, ...options });
  await store.create();
  await store.open();
  return { store, primary, cache, time };
}

const K = "data/0123456789abcdef";
const NESTED = "data/01/23/0123456789abcdef";

describe("cache tier configuration", () => {
  it("is off by default: no cache backend, cache stats stay zero", async () => {
    const primary = new MemoryBackend();
    const store = new Store({ backend: primary, config: layout("off") });
    await store.create();
    await store.open();
    await store.store(K, bytes("x"));
    expect(text(await store.load(K))).toBe("x");
    expect(store.cacheBackend).toBeUndefined();
    expect(store.stats).toMatchObject({ cache_disabled: false, cache_hits: 0, cache_misses: 0, cache_store_calls: 0 });
    await store.close();
  });

  it("accepts CacheMode values with float max_age and size", async () => {
    const { store } = await setup(layout(CacheMode.WRITETHROUGH, { max_age: 1.5, size: 1000 }));
    expect(store.policies.find((p) => p.namespace === "data/")).toMatchObject({ cache: "writethrough", maxAge: 1.5, size: 1000 });
    await store.close();
  });

  it("resolves a cacheUrl lazily, like the primary URL", async () => {
    MemoryBackend.forget("cache-url-test");
    const store = new Store({ url: "memory:", cacheUrl: "memory://cache-url-test", config: layout("writethrough"), logger });
    await store.create();
    await store.open();
    await store.store(K, bytes("v"));
    const cache = new MemoryBackend({ name: "cache-url-test" });
    await cache.open();
    expect(text(await cache.load(NESTED))).toBe("v");
    await cache.close();
    await store.close();
    await store.destroy();
    await expect(cache.open()).rejects.toMatchObject({ code: "BACKEND_DOES_NOT_EXIST" });
  });

  it("needs a name for cacheInvalidate", async () => {
    const { store } = await setup(layout("writethrough"));
    await expect(store.cacheInvalidate(undefined as unknown as string)).rejects.toBeInstanceOf(InvalidArgument);
    await store.close();
  });
});

describe("writethrough", () => {
  it("stores typed-array views into the cache and serves them from it; invalidation leaves the primary intact", async () => {
    const { store, cache } = await setup(layout("writethrough"));
    const value = new Uint32Array([1, 2, 3, 4]);
    await store.store(K, value);
    expect(store.stats).toMatchObject({ cache_store_calls: 1, cache_store_volume: 16 });
    expect((await store.load(K)).byteLength).toBe(16);
    expect(store.stats).toMatchObject({ cache_hits: 1, backend_load_calls: 0 });
    await store.cacheInvalidate(K);
    expect((await cache.info(NESTED)).exists).toBe(false);
    expect((await store.load(K)).byteLength).toBe(16);
    expect(store.stats).toMatchObject({ cache_misses: 1, backend_load_calls: 1 });
    await store.close();
  });

  it("fills the cache on a miss, then serves partial loads from it", async () => {
    const { store, primary, cache } = await setup(layout("writethrough"));
    await primary.store(NESTED, bytes("0123456789")); // behind the Store's back: not cached
    expect(text(await store.load(K))).toBe("0123456789");
    expect(store.stats).toMatchObject({ cache_misses: 1, cache_hits: 0, backend_load_calls: 1, cache_store_calls: 1 });
    expect(text(await store.load(K, { offset: 2, size: 4 }))).toBe("2345");
    expect(store.stats).toMatchObject({ cache_hits: 1, cache_load_volume: 4, backend_load_calls: 1 });
    // the hit passed the range through to the cache backend
    expect(cache.loads.at(-1)).toEqual([NESTED, { offset: 2, size: 4 }]);
    await store.close();
  });

  it("slices a miss right for a negative offset with a size (the reference returns empty)", async () => {
    const { store, primary } = await setup(layout("writethrough"));
    await primary.store(NESTED, bytes("0123456789"));
    expect(text(await store.load(K, { offset: -4, size: 2 }))).toBe("67");
    expect(text(await store.load(K, { offset: -4, size: 2 }))).toBe("67"); // now a hit
    expect(store.stats).toMatchObject({ cache_misses: 1, cache_hits: 1 });
    await store.close();
  });

  it("rejects a bad range as the caller's error, without touching either backend", async () => {
    const { store } = await setup(layout("writethrough"));
    await store.store(K, bytes("v"));
    await expect(store.load(K, { offset: 1.5 })).rejects.toBeInstanceOf(InvalidArgument);
    await expect(store.load(K, { size: -1 })).rejects.toBeInstanceOf(InvalidArgument);
    expect(store.stats).toMatchObject({ cache_errors: 0, cache_load_calls: 0, backend_load_calls: 0 });
    await store.close();
  });

  it("uses the .del cache key for deleted loads: miss, then hit", async () => {
    const { store, primary } = await setup(layout("writethrough"));
    await primary.store(`${NESTED}.del`, bytes("gone"));
    expect(text(await store.load(K, { deleted: true }))).toBe("gone");
    expect(text(await store.load(K, { deleted: true }))).toBe("gone");
    expect(store.stats).toMatchObject({ cache_misses: 1, cache_hits: 1 });
    await store.close();
  });

  it("does not expire entries on read, only at open/close", async () => {
    const { store, time } = await setup(layout("writethrough", { max_age: 60 }));
    await store.store(K, bytes("v"));
    time.now += 3600;
    expect(text(await store.load(K))).toBe("v");
    expect(store.stats).toMatchObject({ cache_hits: 1, cache_delete_calls: 0 });
    // the hit refreshed the atime, so age it again before close
    time.now += 3600;
    await store.close();
    expect(store.stats.cache_delete_calls).toBe(1);
  });
});

describe("mirror", () => {
  it("always reads the primary and copies each loaded value into the cache", async () => {
    const { store, cache } = await setup(layout("mirror"));
    await store.store(K, bytes("0123456789"));
    expect(text(await store.load(K, { offset: -3 }))).toBe("789");
    expect(text(await store.load(K))).toBe("0123456789");
    expect(store.stats).toMatchObject({
      cache_load_calls: 0,
      cache_hits: 0,
      cache_misses: 0,
      backend_load_calls: 2,
      backend_load_volume: 20,
      cache_store_calls: 3,
      load_volume: 13,
    });
    expect(text(await cache.load(NESTED))).toBe("0123456789");
    await store.close();
  });
});

describe.each(["writethrough", "mirror"] as const)("%s keeps cache entries in sync", (mode) => {
  it("through store, soft delete, undelete and delete, including .del names", async () => {
    const { store, cache } = await setup(layout(mode));
    await store.store(K, bytes("v"));
    expect(await names(cache.list("data/01/23"))).toEqual(["0123456789abcdef"]);
    await store.move(K, { delete: true });
    expect(await names(cache.list("data/01/23"))).toEqual(["0123456789abcdef.del"]);
    await store.move(K, { undelete: true });
    expect(await names(cache.list("data/01/23"))).toEqual(["0123456789abcdef"]);
    await store.delete(K);
    expect(await names(cache.list("data/01/23"))).toEqual([]);
    await store.close();
  });

  it("through generic renames and change of level", async () => {
    const { store, cache } = await setup({ "": { levels: [0, 1], cache: mode } });
    await store.setLevels({ "": [0] });
    await store.store("aabbccdd", bytes("v"));
    await store.setLevels({ "": [0, 1] });
    await store.move("aabbccdd", { changeLevel: true });
    expect((await cache.info("aa/aabbccdd")).exists).toBe(true);
    expect((await cache.info("aabbccdd")).exists).toBe(false);
    await store.move("aabbccdd", { newName: "11223344" });
    expect((await cache.info("11/11223344")).exists).toBe(true);
    expect((await cache.info("aa/aabbccdd")).exists).toBe(false);
    await store.close();
  });
});

describe("moves across cached and uncached namespaces", () => {
  it("drops the copy when an item leaves a cached namespace, and a stale copy when one enters it", async () => {
    const { store, cache } = await setup({
      "hot/": { levels: [0], cache: "writethrough" },
      "cold/": { levels: [0] },
    });
    await store.store("hot/a", bytes("a1"));
    await store.move("hot/a", { newName: "cold/a" });
    expect((await cache.info("hot/a")).exists).toBe(false);
    expect((await cache.info("cold/a")).exists).toBe(false);
    await store.store("hot/b", bytes("old"));
    await store.store("cold/b", bytes("new"));
    await store.move("cold/b", { newName: "hot/b" });
    expect(text(await store.load("hot/b"))).toBe("new");
    await store.close();
  });

  it("invalidates an overwritten defrag target", async () => {
    const { store } = await setup({ "hot/": { levels: [0], cache: "writethrough" } });
    await store.store("hot/src", bytes("fresh"));
    await store.store("hot/t", bytes("stale"));
    await store.defrag([["src", 0, 5]], { namespace: "hot", target: "t" });
    expect(text(await store.load("hot/t"))).toBe("fresh");
    await store.close();
  });

  it("destroys quietly when the cache was never created", async () => {
    const primary = new MemoryBackend();
    const store = new Store({ backend: primary, cacheBackend: new MemoryBackend(), config: layout("writethrough"), logger });
    await primary.create();
    await store.destroy();
    expect(store.stats.cache_errors).toBe(0);
  });
});

describe("cache failures", () => {
  it("never fail the Store's store, move, load or delete; they are counted and logged", async () => {
    const { store, cache, primary } = await setup(layout("writethrough"));
    cache.failing.add("store");
    await store.store(K, bytes("v1"));
    expect(text(await primary.load(NESTED))).toBe("v1");
    cache.failing.add("move");
    await store.move(K, { delete: true });
    await store.move(K, { undelete: true });
    cache.failing.add("load");
    expect(text(await store.load(K))).toBe("v1");
    expect(store.stats.cache_errors).toBeGreaterThanOrEqual(3);
    expect(warnings.some((w) => w.includes("injected store failure"))).toBe(true);
    expect(store.stats.cache_disabled).toBe(false);
    await store.close();
  });

  it("never leave a stale copy: a failed cache store removes the old copy", async () => {
    const { store, cache } = await setup(layout("writethrough"));
    await store.store(K, bytes("old"));
    cache.failing.add("store");
    await store.store(K, bytes("new"));
    cache.failing.delete("store");
    expect((await cache.info(NESTED)).exists).toBe(false);
    expect(text(await store.load(K))).toBe("new");
    await store.close();
  });

  it("disable the cache when a stale copy cannot be removed", async () => {
    const { store, cache } = await setup(layout("writethrough"));
    await store.store(K, bytes("old"));
    cache.failing.add("store");
    cache.failing.add("delete");
    await store.store(K, bytes("new"));
    expect(store.stats.cache_disabled).toBe(true);
    expect(text(await store.load(K))).toBe("new");
    await store.close();
  });

  it("disable the cache when a namespace invalidation cannot list the copies it must drop", async () => {
    const { store, cache, primary } = await setup(layout("writethrough"));
    await store.store(K, bytes("old"));
    await primary.store(NESTED, bytes("new")); // changed behind the Store's back, then invalidated
    cache.failing.add("list");
    await store.cacheInvalidate("data");
    expect(store.stats.cache_disabled).toBe(true);
    expect(text(await store.load(K))).toBe("new");
    await store.close();
  });

  it("disable the cache for the Store's life when it cannot be opened", async () => {
    const primary = new MemoryBackend();
    const cache = new FlakyMemory();
    await cache.create();
    cache.failing.add("open");
    const store = new Store({ backend: primary, cacheBackend: cache, config: layout("writethrough"), logger });
    await primary.create();
    await store.open();
    expect(store.stats.cache_disabled).toBe(true);
    await store.store(K, bytes("v"));
    expect(text(await store.load(K))).toBe("v");
    expect(store.stats).toMatchObject({ cache_store_calls: 0, cache_hits: 0 });
    await store.close();
  });

  it("during cleanup are best effort: counted, and the cache is still closed", async () => {
    const { store, cache } = await setup(layout("writethrough", { max_age: 10 }));
    cache.failing.add("list");
    await store.close();
    expect(store.stats.cache_errors).toBe(2); // data/ and meta/
    expect(cache.closes).toBe(1);
    expect(cache.opened).toBe(false);
    await store.open();
    expect(store.stats.cache_errors).toBe(4);
    expect(store.stats.cache_disabled).toBe(false);
    cache.failing.delete("list");
    await store.store(K, bytes("v"));
    expect(text(await store.load(K))).toBe("v");
    expect(store.stats.cache_hits).toBe(1);
    await store.close();
    expect(cache.closes).toBe(2);
  });

  it("never let a load racing with a store leave the older value in the cache", async () => {
    const { store, primary } = await setup(layout("writethrough"));
    await primary.store(NESTED, bytes("old")); // not cached
    const results = await Promise.all([store.load(K), store.store(K, bytes("new")), store.load(K)]);
    expect(["old", "new"]).toContain(text(results[0] as Uint8Array));
    await sleep(5);
    expect(text(await store.load(K))).toBe("new");
    for (let round = 0; round < 20; round++) {
      const value = `v${round}`;
      await Promise.all([store.cacheInvalidate(K).then(() => store.load(K)), store.store(K, bytes(value))]);
      expect(text(await store.load(K))).toBe(value);
    }
    await store.close();
  });
});

describe("cache statistics", () => {
  it("count hits, misses, calls and volumes exactly across writethrough and mirror namespaces", async () => {
    const { store, primary } = await setup({
      "data/": { levels: [0], cache: "writethrough" },
      "meta/": { levels: [0], cache: "mirror" },
      "config/": { levels: [0] },
    });
    await store.store("data/a", bytes("12345")); // cache store 1 (5)
    await store.store("meta/a", bytes("123")); // cache store 2 (3)
    await store.store("config/a", bytes("1")); // not cached
    await primary.store("data/b", bytes("1234567")); // behind the Store's back
    await store.load("data/a"); // hit (5)
    await store.load("data/a", { size: 2 }); // hit (2)
    await store.load("data/b"); // miss, primary 7, cache store 3 (7)
    await store.load("data/b"); // hit (7)
    await store.load("meta/a"); // mirror: primary 3, cache store 4 (3)
    await store.load("config/a"); // primary 1
    await expect(store.load("data/nope")).rejects.toBeInstanceOf(ObjectNotFound); // miss, primary fails
    expect(store.stats).toMatchObject({
      cache_disabled: false,
      cache_hits: 3,
      cache_misses: 2,
      cache_hit_ratio: 3 / 5,
      cache_errors: 0,
      cache_load_calls: 5,
      cache_load_volume: 14,
      cache_store_calls: 4,
      cache_store_volume: 18,
      cache_delete_calls: 0,
      backend_load_calls: 3,
      backend_load_volume: 11,
      load_calls: 6,
      load_volume: 25,
    });
    await store.close();
  });
});

describe("cache cleanup at open and close", () => {
  /** Stores 10-byte items one simulated second apart (the cache's atimes come from the same clock). */
  async function fill(store: Store, time: { now: number }, keys: string[], size = 10) {
    for (const k of keys) {
      await store.store(`data/${k}`, new Uint8Array(size));
      time.now += 1;
    }
  }

  async function cachedNames(cache: MemoryBackend): Promise<string[]> {
    await cache.open();
    try {
      return await names(cache.list("data"));
    } finally {
      await cache.close();
    }
  }

  it("removes items older than max_age at open and keeps fresh ones", async () => {
    const { store, cache, time } = await setup({ "data/": { levels: [0], cache: "writethrough", maxAge: 100 } });
    await fill(store, time, ["old1", "old2"]);
    time.now += 95;
    await fill(store, time, ["fresh"]);
    await store.close(); // nothing is older than 100 s yet
    expect(await cachedNames(cache)).toEqual(["fresh", "old1", "old2"]);
    time.now += 10; // old1/old2 now 106 and 105 s old, fresh 11 s
    await store.open();
    expect(store.stats.cache_delete_calls).toBe(2);
    await store.close();
    expect(await cachedNames(cache)).toEqual(["fresh"]);
  });

  it("evicts the least recently used items at close until the namespace fits its size", async () => {
    const { store, cache, time } = await setup({ "data/": { levels: [0], cache: "writethrough", size: 25 } });
    await fill(store, time, ["a", "b", "c", "d"]);
    await store.load("data/a"); // a becomes the most recently used
    await store.close();
    expect(await cachedNames(cache)).toEqual(["a", "d"]);
  });

  it("removes expired items first, then evicts by LRU", async () => {
    const { store, cache, time } = await setup({
      "data/": { levels: [0], cache: "writethrough", max_age: 100, size: 15 },
    });
    await fill(store, time, ["x1", "x2"]);
    time.now += 200;
    await fill(store, time, ["y1", "y2", "y3"]);
    await store.close();
    // x1, x2 expired (2 deletes); of y1..y3 (30 bytes) the oldest two go to fit 15 bytes
    expect(await cachedNames(cache)).toEqual(["y3"]);
    expect(store.stats.cache_delete_calls).toBe(4);
  });

  it("treats items without an atime as expired", async () => {
    const { store, cache, time } = await setup({ "data/": { levels: [0], cache: "writethrough", max_age: 1e9 } });
    time.now = 0;
    await fill(store, time, ["never"]);
    time.now = 1_700_000_000;
    await fill(store, time, ["seen"]);
    await store.close();
    expect(await cachedNames(cache)).toEqual(["seen"]);
  });

  it("leaves a more specific namespace's items to its own policy", async () => {
    const { store, cache } = await setup({
      "data/": { levels: [0], cache: "writethrough", size: 0 },
      "data/keep": { levels: [0], cache: "writethrough" },
    });
    await store.store("data/a", bytes("1"));
    await store.store("data/keepme", bytes("2"));
    await store.close();
    expect(await cachedNames(cache)).toEqual(["keepme"]);
  });
});

describe("cacheInvalidate", () => {
  it("drops one item, a namespace, or everything, and never touches the primary", async () => {
    const { store, cache, primary } = await setup(layout("writethrough"));
    await store.store("data/aabbccdd", bytes("1"));
    await store.store("data/11223344", bytes("2"));
    await store.store("meta/aabb", bytes("3"));
    await store.cacheInvalidate("data/aabbccdd");
    expect((await cache.info("data/aa/bb/aabbccdd")).exists).toBe(false);
    expect((await cache.info("data/11/22/11223344")).exists).toBe(true);
    await store.cacheInvalidate("data/");
    expect((await cache.info("data/11/22/11223344")).exists).toBe(false);
    expect((await cache.info("meta/aa/aabb")).exists).toBe(true);
    await store.cacheInvalidate("");
    expect((await cache.info("meta/aa/aabb")).exists).toBe(false);
    expect(await collect(primary.list("data"))).toHaveLength(2);
    expect(text(await store.load("meta/aabb"))).toBe("3");
    await store.close();
  });
});

describe("emulation and the cache", () => {
  it("applies latency to primary calls on a miss, not to cache hits", async () => {
    const { store, primary } = await setup(layout("writethrough"), { latency: 40_000 });
    await primary.store(NESTED, bytes("v"));
    let start = performance.now();
    await store.load(K);
    expect(performance.now() - start).toBeGreaterThanOrEqual(38);
    start = performance.now();
    await store.load(K);
    expect(performance.now() - start).toBeLessThan(30);
    await store.close();
  });

  it("applies bandwidth to primary loads, not to cache hits (BORGSTORE_BANDWIDTH)", async () => {
    process.env.BORGSTORE_BANDWIDTH = "800"; // 100 bytes/s
    const { store, primary } = await setup(layout("writethrough"));
    await primary.store(NESTED, new Uint8Array(30));
    let start = performance.now();
    await store.load(K);
    expect(performance.now() - start).toBeGreaterThanOrEqual(290);
    start = performance.now();
    await store.load(K);
    expect(performance.now() - start).toBeLessThan(100);
    await store.close();
  });

  it("saves time in front of a slow primary: hit ratio and time saved", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `data/${((i + 1) * 2654435761).toString(16).padStart(8, "0").slice(-8)}`);
    MemoryBackend.forget("slow-primary");
    const writer = new Store({ url: "memory://slow-primary", config: { "data/": { levels: [1] } } });
    await writer.create();
    await writer.open();
    for (const k of keys) await writer.store(k, new Uint8Array(1000));
    await writer.close();
    const run = async (cacheBackend?: MemoryBackend) => {
      const store = new Store({
        backend: new MemoryBackend({ name: "slow-primary" }),
        cacheBackend,
        config: { "data/": { levels: [1], cache: cacheBackend ? "writethrough" : "off" } },
        latency: 5_000, // 5 ms per primary call
        logger,
      });
      await store.open();
      const start = performance.now();
      for (let round = 0; round < 5; round++) for (const k of keys) await store.load(k);
      const seconds = (performance.now() - start) / 1000;
      const stats = store.stats;
      await store.close();
      return { seconds, stats };
    };
    const slow = await run();
    const cache = new MemoryBackend();
    await cache.create();
    const fast = await run(cache);
    expect(slow.stats.backend_load_calls).toBe(100);
    expect(slow.seconds).toBeGreaterThanOrEqual(0.5);
    expect(fast.stats).toMatchObject({ cache_misses: 20, cache_hits: 80, cache_hit_ratio: 0.8, backend_load_calls: 20 });
    expect(fast.seconds).toBeLessThan(slow.seconds / 2);
    console.info(
      `writethrough cache on memory in front of a 5 ms primary: 100 loads of 20 keys in ${fast.seconds.toFixed(3)} s ` +
        `vs ${slow.seconds.toFixed(3)} s uncached (hit ratio ${fast.stats.cache_hit_ratio}, ` +
        `saved ${(slow.seconds - fast.seconds).toFixed(3)} s, ${(slow.seconds / fast.seconds).toFixed(1)}× faster)`,
    );
  });
});
