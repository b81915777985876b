import { describe, expect, it } from "vitest";
import { BackendError, CacheMode, MemoryBackend, collectBytes } from "../src/index.js";
import { CacheLayer, type CacheLayerOptions } from "../src/backend-kit/index.js";
import { bytes, chunksOf, names, text } from "./helpers.js";

// CacheLayer used as a Backend on its own (a Store always passes modeOf, clock and a cache
// resolved by URL): its defaults, the uncached names' paths, and what it logs.

/** A memory backend whose listed operations fail with BackendError (a cache on a failing disk). */
class FailingMemory extends MemoryBackend {
  readonly failing = new Set<string>();
  #fail(op: string): void {
    if (this.failing.has(op)) throw new BackendError(`${op} broke`);
  }
  protected override async _open(): Promise<void> {
    this.#fail("open");
    return super._open();
  }
  protected override async _store(name: string, value: Uint8Array): Promise<void> {
    this.#fail("store");
    return super._store(name, value);
  }
  protected override async _delete(name: string): Promise<void> {
    this.#fail("delete");
    return super._delete(name);
  }
  protected override async _move(from: string, to: string): Promise<void> {
    this.#fail("move");
    return super._move(from, to);
  }
  protected override async _load(name: string, options: Parameters<MemoryBackend["load"]>[1] & object): Promise<Uint8Array> {
    this.#fail("load");
    return super._load(name, options);
  }
}

async function layerOver(options: Partial<CacheLayerOptions> & { cache?: CacheLayerOptions["cache"] } = {}) {
  const cache = new MemoryBackend();
  const warnings: string[] = [];
  const layer = new CacheLayer(new MemoryBackend(), {
    cache,
    logger: { warn: (message) => void warnings.push(message) },
    ...options,
  });
  await layer.create();
  await layer.open();
  return { layer, cache: (options.cache as MemoryBackend | undefined) ?? cache, warnings };
}

describe("CacheLayer's defaults", () => {
  it("hands out the cache it was given, and caches by the longest namespace of its policies, given in any order", async () => {
    const cache = new MemoryBackend();
    const { layer } = await layerOver({
      cache,
      policies: [
        { namespace: "", cache: CacheMode.WRITETHROUGH },
        { namespace: "data/", cache: CacheMode.OFF },
      ],
    });
    expect(layer.cache).toBe(cache);
    await layer.store("data/x", bytes("x"));
    await layer.store("config/y", bytes("y"));
    expect((await cache.info("data/x")).exists).toBe(false);
    expect(text(await cache.load("config/y"))).toBe("y");
  });

  it("caches the names of a policy's namespace and no others", async () => {
    const { layer, cache } = await layerOver({ policies: [{ namespace: "data/", cache: CacheMode.WRITETHROUGH }] });
    await layer.store("data/x", bytes("x"));
    await layer.store("other/y", bytes("y"));
    expect(text(await cache.load("data/x"))).toBe("x");
    expect((await cache.info("other/y")).exists).toBe(false);
  });

  it("expires copies by the system clock when given none", async () => {
    let now = 1000; // seconds: long ago
    const cache = new MemoryBackend({ clock: () => now });
    const { layer } = await layerOver({ cache, policies: [{ namespace: "data/", cache: CacheMode.WRITETHROUGH, maxAge: 3600 }] });
    await layer.store("data/old", bytes("o"));
    now = Date.now() / 1000;
    await layer.store("data/new", bytes("n"));
    await layer.cleanup();
    expect(await names(cache.list("data"))).toEqual(["new"]);
  });

  it("leaves the copies of a namespace whose policy is off alone at cleanup, whatever its limits", async () => {
    const cache = new MemoryBackend({ clock: () => 1000 });
    const { layer } = await layerOver({
      cache,
      policies: [
        { namespace: "data/", cache: CacheMode.WRITETHROUGH },
        { namespace: "tmp/", cache: CacheMode.OFF, maxAge: 1 },
      ],
      clock: () => 1_000_000,
    });
    await cache.store("tmp/x", bytes("x")); // a copy from an earlier configuration
    await layer.cleanup();
    expect((await cache.info("tmp/x")).exists).toBe(true);
  });
});

describe("CacheLayer's cleanup of copies without an atime", () => {
  it("expires them under maxAge even when the clock is younger than maxAge, and keeps them under a size alone", async () => {
    const cache = new MemoryBackend({ clock: () => 0 }); // atime 0: unknown
    const { layer } = await layerOver({
      cache,
      policies: [
        { namespace: "data/", cache: CacheMode.WRITETHROUGH, maxAge: 100 },
        { namespace: "meta/", cache: CacheMode.WRITETHROUGH, size: 100 },
      ],
      clock: () => 50,
    });
    await layer.store("data/a", bytes("a"));
    await layer.store("meta/b", bytes("b"));
    await layer.cleanup();
    expect((await cache.info("data/a")).exists).toBe(false);
    expect((await cache.info("meta/b")).exists).toBe(true);
  });
});

describe("CacheLayer's uncached names", () => {
  const policies = [{ namespace: "data/", cache: CacheMode.WRITETHROUGH }];

  it("never touch a copy the cache holds under their name (storeStream, delete), while cached names drop theirs", async () => {
    const { layer, cache } = await layerOver({ policies });
    await cache.store("other/x", bytes("old"));
    await cache.store("other/y", bytes("old"));
    await layer.storeStream("other/x", chunksOf("new"));
    await layer.store("other/y", bytes("y"));
    await layer.delete("other/y");
    expect(text(await cache.load("other/x"))).toBe("old");
    expect(text(await cache.load("other/y"))).toBe("old");
    await layer.store("data/z", bytes("old"));
    await layer.storeStream("data/z", chunksOf("new"));
    expect((await cache.info("data/z")).exists).toBe(false);
    expect(text(await collectBytes(await layer.loadStream("data/z")))).toBe("new");
    expect(text(await cache.load("data/z"))).toBe("new"); // the loadStream filled it
    expect(text(await collectBytes(await layer.loadStream("other/x")))).toBe("new");
    expect(layer.stats).toMatchObject({ hits: 0, misses: 1 });
  });

  it("a partial load from the start on a miss returns the slice, and fills the whole value", async () => {
    const { layer, cache } = await layerOver({ policies });
    await layer.inner.store("data/x", bytes("hello"));
    expect(text(await layer.load("data/x", { offset: 0, size: 2 }))).toBe("he");
    expect(text(await cache.load("data/x"))).toBe("hello");
  });

  it("moves between uncached names leave the cache alone; one into a cached namespace never carries an old copy along", async () => {
    const { layer, cache } = await layerOver({ policies });
    await cache.store("other/b", bytes("old")); // copies from an earlier configuration
    await cache.store("other/c", bytes("stale"));
    await layer.inner.store("other/a", bytes("a"));
    await layer.move("other/a", "other/b");
    expect(text(await cache.load("other/b"))).toBe("old");
    await layer.store("data/c", bytes("older"));
    await layer.inner.store("other/c", bytes("new"));
    await layer.move("other/c", "data/c");
    expect(text(await layer.load("data/c"))).toBe("new");
  });

  it("defrag: a target in a cached namespace drops its older copy, one in an uncached namespace leaves the cache alone", async () => {
    const { layer, cache } = await layerOver({ policies });
    await layer.store("data/a", bytes("hello"));
    await layer.store("data/t", bytes("older"));
    await cache.store("other/t", bytes("older"));
    expect(await layer.defrag([["data/a", 0, 4]], { target: "data/t" })).toBe("data/t");
    expect((await cache.info("data/t")).exists).toBe(false);
    expect(text(await layer.load("data/t"))).toBe("hell");
    expect(await layer.defrag([["data/a", 1, 2]], { target: "other/t" })).toBe("other/t");
    expect(text(await cache.load("other/t"))).toBe("older");
  });
});

describe("CacheLayer's lifecycle around a cache that is missing or closed", () => {
  it("a cache that cannot be resolved is one logged error through open and close, tried again by destroy", async () => {
    const warnings: string[] = [];
    const layer = new CacheLayer(new MemoryBackend(), {
      cache: async () => {
        throw new BackendError("no such cache");
      },
      logger: { warn: (message) => void warnings.push(message) },
    });
    await layer.create();
    await layer.open();
    await layer.store("a", bytes("a"));
    await layer.close();
    expect(layer.stats).toEqual({ disabled: true, hits: 0, misses: 0, errors: 1 });
    expect(warnings).toEqual([
      "borgstore cache: resolving the cache URL failed [BACKEND_ERROR]: no such cache",
      "borgstore cache: disabled for the rest of this Store's life; the primary serves everything",
    ]);
    await layer.destroy();
    expect(layer.stats.errors).toBe(2);
    expect(warnings).toHaveLength(3);
  });

  it("mkdirInCache opens a closed cache for the time it makes the directories", async () => {
    const cache = new MemoryBackend();
    const layer = new CacheLayer(new MemoryBackend(), { cache });
    await layer.create();
    await layer.mkdirInCache(["data", "data/00"]);
    expect(layer.stats.disabled).toBe(false);
    expect(cache.opened).toBe(false);
    await cache.open();
    expect(await names(cache.list("data"))).toEqual(["00"]);
  });

  it("invalidate while closed drops the copy (the cache opened for the time): the value changed behind it is served after reopen", async () => {
    for (const target of [{ key: "data/x" }, { directory: "data" }, { directory: "" }]) {
      const primary = new MemoryBackend();
      const cache = new MemoryBackend();
      const layer = new CacheLayer(primary, { cache });
      await layer.create();
      await layer.open();
      await layer.store("data/x", bytes("old"));
      await layer.close();
      await primary.open();
      await primary.store("data/x", bytes("new"));
      await primary.close();
      await layer.invalidate(target);
      expect(cache.opened).toBe(false);
      expect(layer.stats.disabled).toBe(false);
      await layer.open();
      expect(text(await layer.load("data/x"))).toBe("new");
      await layer.close();
    }
  });
});

describe("CacheLayer's warnings", () => {
  it("name the step that failed", async () => {
    const cache = new FailingMemory({ clock: () => 1000 }); // one atime: cleanup goes in name order
    const { layer, warnings } = await layerOver({ cache, policies: [{ namespace: "data/", cache: CacheMode.WRITETHROUGH, size: 1 }] });
    await layer.store("data/a", bytes("a"));
    await layer.store("data/c", bytes("cc"));
    cache.failing.add("load");
    expect(text(await layer.load("data/a"))).toBe("a");
    cache.failing.add("delete");
    await layer.cleanup(); // over its size: both copies should go, neither can
    cache.failing.delete("delete");
    cache.failing.add("move");
    await layer.move("data/a", "data/b");
    cache.failing.add("delete");
    await layer.delete("data/c");
    expect(warnings).toEqual([
      "borgstore cache: load data/a failed [BACKEND_ERROR]: load broke",
      "borgstore cache: delete data/a failed [BACKEND_ERROR]: delete broke",
      "borgstore cache: delete data/c failed [BACKEND_ERROR]: delete broke",
      "borgstore cache: move data/a → data/b failed [BACKEND_ERROR]: move broke",
      "borgstore cache: delete data/c failed [BACKEND_ERROR]: delete broke",
      "borgstore cache: disabled for the rest of this Store's life; the primary serves everything",
    ]);
    expect(layer.stats).toEqual({ disabled: true, hits: 0, misses: 1, errors: 5 });
  });

  it("name create, open and createLevels", async () => {
    for (const [step, work] of [
      ["open", async (layer: CacheLayer) => layer.open()],
      ["createLevels", async (layer: CacheLayer) => layer.mkdirInCache(["data"])],
    ] as const) {
      const cache = new FailingMemory();
      const warnings: string[] = [];
      const layer = new CacheLayer(new MemoryBackend(), { cache, logger: { warn: (message) => void warnings.push(message) } });
      await layer.create();
      cache.failing.add("open");
      await work(layer);
      expect(warnings[0]).toBe(`borgstore cache: ${step} failed [BACKEND_ERROR]: open broke`);
    }
    const warnings: string[] = [];
    const cache = {} as MemoryBackend; // no create at all
    const layer = new CacheLayer(new MemoryBackend(), { cache, logger: { warn: (message) => void warnings.push(message) } });
    await layer.create();
    expect(warnings[0]).toMatch(/^borgstore cache: create failed: /);
  });
});
