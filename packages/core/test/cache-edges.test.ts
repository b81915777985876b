import { describe, expect, it } from "vitest";
import { BackendError, MemoryBackend, type NamespaceConfig, Store } from "../src/index.js";
import { bytes, names } from "./helpers.js";

interface Setup {
  store: Store;
  cache: MemoryBackend;
  time: { now: number };
  warnings: string[];
}

async function setup(config: Record<string, NamespaceConfig>, given?: MemoryBackend): Promise<Setup> {
  const time = { now: 1_700_000_000 };
  const cache = given ?? new MemoryBackend({ clock: () => time.now });
  const warnings: string[] = [];
  const store = new Store({
    backend: new MemoryBackend({ clock: () => time.now }),
    cacheBackend: cache,
    config,
    logger: { warn: (message) => void warnings.push(message) },
    clock: () => time.now,
  });
  await store.create();
  await store.open();
  return { store, cache, time, warnings };
}

async function cachedNames(cache: MemoryBackend, dir = "data"): Promise<string[]> {
  const wasOpen = cache.opened;
  if (!wasOpen) await cache.open();
  try {
    return await names(cache.list(dir));
  } finally {
    if (!wasOpen) await cache.close();
  }
}

describe("cache cleanup boundaries", () => {
  it("keeps an item exactly max_age old, removes one a second older", async () => {
    const { store, cache, time } = await setup({ "data/": { levels: [0], cache: "writethrough", maxAge: 100 } });
    await store.store("data/old", bytes("x"));
    time.now += 1;
    await store.store("data/young", bytes("y"));
    time.now += 99; // old: 100 s, young: 99 s
    await store.close();
    await store.open();
    expect(await cachedNames(cache)).toEqual(["old", "young"]);
    time.now += 1; // old: 101 s
    await store.close();
    expect(await cachedNames(cache)).toEqual(["young"]);
  });

  it("keeps a namespace that fits its size exactly, and evicts items of equal age in name order", async () => {
    const { store, cache, time } = await setup({ "data/": { levels: [0], cache: "writethrough", size: 30 } });
    for (const k of ["c", "a", "b"]) await store.store(`data/${k}`, new Uint8Array(10)); // same atime
    await store.close();
    expect(await cachedNames(cache)).toEqual(["a", "b", "c"]);
    await store.open();
    await store.store("data/d", new Uint8Array(10));
    time.now += 1;
    await store.close(); // 40 bytes for 30: the first by name of the oldest goes
    expect(await cachedNames(cache)).toEqual(["b", "c", "d"]);
  });
});

describe("cache lifecycle", () => {
  it("create empties a cache that already exists (its copies would be stale for a new primary)", async () => {
    const cache = new MemoryBackend();
    await cache.create();
    await cache.open();
    await cache.store("data/stale", bytes("old"));
    await cache.close();
    const { store } = await setup({ "data/": { levels: [0], cache: "writethrough" } }, cache);
    expect(await cachedNames(cache, "")).toEqual([]);
    await store.close();
  });

  it("createLevels makes the nesting directories of cached namespaces only, in the cache too, and leaves it as it was", async () => {
    const { store, cache } = await setup({
      "data/": { levels: [1], cache: "writethrough" },
      "meta/": { levels: [1] },
    });
    await store.createLevels();
    expect(await cachedNames(cache)).toHaveLength(256);
    expect(await cachedNames(cache, "")).toEqual(["data"]);
    expect(cache.opened).toBe(true);
    await store.close();
    expect(cache.opened).toBe(false);
    await store.createLevels();
    expect(cache.opened).toBe(false);
    expect(await store.backend?.opened).toBe(false);
  });

  it("logs a cache failure with its error code and message", async () => {
    class FailingStores extends MemoryBackend {
      protected override async _store(): Promise<void> {
        throw new BackendError("disk on fire");
      }
    }
    const { store, warnings } = await setup({ "data/": { levels: [0], cache: "writethrough" } }, new FailingStores());
    await store.store("data/x", bytes("x"));
    expect(warnings[0]).toBe("borgstore cache: store data/x failed [BACKEND_ERROR]: disk on fire");
    await store.close();
  });

  it("a cache that fails to destroy or to close is logged, and the Store's destroy and close still succeed", async () => {
    class FailingEnds extends MemoryBackend {
      protected override async _destroy(): Promise<void> {
        throw new BackendError("cannot remove");
      }
      protected override async _close(): Promise<void> {
        throw new BackendError("cannot close");
      }
    }
    const { store, warnings } = await setup({ "data/": { levels: [0], cache: "writethrough" } }, new FailingEnds());
    await store.close();
    expect(warnings).toEqual(["borgstore cache: close failed [BACKEND_ERROR]: cannot close"]);
    await store.destroy();
    expect(warnings[1]).toBe("borgstore cache: destroy failed [BACKEND_ERROR]: cannot remove");
    expect(store.stats.cache_errors).toBe(2);
  });
});
