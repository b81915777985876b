// The cache tier against changes it does not make itself: values changed in the primary behind
// the Store's back and then invalidated, and defrag targets written in the primary by the Store.
// Every backend call waits for a turn fast-check's scheduler hands out, so the runs explore the
// orders in which loads, fills, stores, defrags and invalidations reach the two backends.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CacheMode, MemoryBackend, ObjectNotFound, ReadRangeError, Store } from "../src/index.js";
import type { BufferLoadOptions } from "../src/types.js";

const quiet = { warn() {} };
const hex = (value: Uint8Array | undefined) => value && Buffer.from(value).toString("hex");

/** A memory backend whose every primitive first waits for a turn the scheduler hands out. */
class Scheduled extends MemoryBackend {
  tick: (() => Promise<unknown>) | undefined;
  async #turn(): Promise<void> {
    if (this.tick) await this.tick();
  }
  protected override async _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    await this.#turn();
    const value = await super._load(name, options);
    await this.#turn();
    return value;
  }
  protected override async _store(name: string, value: Uint8Array): Promise<void> {
    await this.#turn();
    return super._store(name, value);
  }
  protected override async _delete(name: string): Promise<void> {
    await this.#turn();
    return super._delete(name);
  }
  protected override async _info(name: string) {
    await this.#turn();
    return super._info(name);
  }
}

/** Every key loads through the Store as the primary holds it (both missing counts as equal). */
async function expectCacheAgrees(store: Store, primary: MemoryBackend, keys: readonly string[]): Promise<void> {
  for (const key of keys) {
    const nested = await store.find(key);
    const inPrimary = await primary.load(nested).catch(() => undefined);
    const viaStore = await store.load(key).catch(() => undefined);
    expect({ key, value: hex(viaStore) }).toEqual({ key, value: hex(inPrimary) });
  }
}

describe("cache invalidation after changes behind the Store's back", () => {
  // The Store writes only "data/aa01"; another writer changes the others in the primary and then
  // invalidates them (the key, its namespace or everything), as the cache tier asks of it.
  const storeKeys = ["data/aa01"];
  const outsideKeys = ["data/bb02", "meta/cc03"];
  const keys = [...storeKeys, ...outsideKeys];
  const namespaceOf = (key: string) => key.split("/")[0] as string;

  it("a load under way during the invalidation never leaves the value it read before the change", async () => {
    const value = fc.uint8Array({ maxLength: 12 });
    const op = fc.oneof(
      fc.record({ kind: fc.constant("load" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("store" as const), key: fc.constantFrom(...storeKeys), value }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom(...storeKeys) }),
      fc.record({
        kind: fc.constant("outside" as const),
        key: fc.constantFrom(...outsideKeys),
        value: fc.option(value, { nil: undefined }), // undefined: deleted
        scope: fc.constantFrom("key", "namespace", "everything"),
      }),
      fc.record({ kind: fc.constant("invalidate" as const), target: fc.constantFrom(...keys, "data", "meta", "") }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 5 }),
        fc.scheduler(),
        fc.constantFrom(CacheMode.WRITETHROUGH, CacheMode.MIRROR),
        async (batches, s, mode) => {
          const volume = `cache-change-races-${run++}`;
          MemoryBackend.forget(volume);
          const primary = new Scheduled({ name: volume });
          const outside = new Scheduled({ name: volume });
          const cache = new Scheduled();
          const store = new Store({
            backend: primary,
            cacheBackend: cache,
            config: { "data/": { levels: [1], cache: mode }, "meta/": { levels: [0], cache: CacheMode.WRITETHROUGH } },
            logger: quiet,
          });
          await store.create();
          await store.open();
          await outside.open();
          for (const key of keys) await store.store(key, new Uint8Array([0]));
          primary.tick = outside.tick = cache.tick = () => s.schedule(Promise.resolve("turn"));
          try {
            for (const batch of batches) {
              const running = batch.map((o) =>
                s.schedule(Promise.resolve(o.kind)).then(async () => {
                  try {
                    if (o.kind === "load") await store.load(o.key);
                    else if (o.kind === "store") await store.store(o.key, o.value);
                    else if (o.kind === "delete") await store.delete(o.key);
                    else if (o.kind === "invalidate") await store.cacheInvalidate(o.target);
                    else {
                      const nested = await store.find(o.key);
                      if (o.value) await outside.store(nested, o.value);
                      else await outside.delete(nested);
                      const target = o.scope === "key" ? o.key : o.scope === "namespace" ? namespaceOf(o.key) : "";
                      await store.cacheInvalidate(target);
                    }
                  } catch (err) {
                    if (!(err instanceof ObjectNotFound)) throw err;
                  }
                }),
              );
              await s.waitFor(Promise.all(running));
            }
            primary.tick = outside.tick = cache.tick = undefined;
            await expectCacheAgrees(store, primary, keys);
            expect(store.stats.cache_disabled).toBe(false);
          } finally {
            await store.close();
            await outside.close();
            MemoryBackend.forget(volume);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("defrag targets and the cache", () => {
  const SOURCE = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const digestKey = createHash("sha256").update(SOURCE).digest("hex");
  const keys = ["data/aa01", "data/bb02", `data/${digestKey}`];

  it("defrags overlapping stores, deletes and loads of their targets leave no copy the primary does not hold", async () => {
    const key = fc.constantFrom(...keys);
    const op = fc.oneof(
      fc.record({ kind: fc.constant("store" as const), key, value: fc.uint8Array({ maxLength: 12 }) }),
      fc.record({ kind: fc.constant("delete" as const), key }),
      fc.record({ kind: fc.constant("load" as const), key }),
      fc.record({
        kind: fc.constant("defrag" as const),
        // A named target, or undefined: named by the digest of what it holds (SOURCE whole).
        target: fc.option(fc.constantFrom("aa01", "bb02"), { nil: undefined }),
        from: fc.constantFrom("src", "aa01", "bb02"),
        size: fc.integer({ min: 0, max: SOURCE.length }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 5 }),
        fc.scheduler(),
        fc.constantFrom(CacheMode.WRITETHROUGH, CacheMode.MIRROR),
        fc.constantFrom([1], [1, 2]),
        async (batches, s, mode, levels) => {
          const primary = new Scheduled();
          const cache = new Scheduled();
          const store = new Store({ backend: primary, cacheBackend: cache, config: { "data/": { levels, cache: mode } }, logger: quiet });
          await store.create();
          await store.open();
          await store.store("data/src", SOURCE);
          primary.tick = cache.tick = () => s.schedule(Promise.resolve("turn"));
          try {
            for (const batch of batches) {
              const running = batch.map((o) =>
                s.schedule(Promise.resolve(o.kind)).then(async () => {
                  try {
                    if (o.kind === "store") await store.store(o.key, o.value);
                    else if (o.kind === "delete") await store.delete(o.key);
                    else if (o.kind === "load") await store.load(o.key);
                    else if (o.target) await store.defrag([[o.from, 0, o.size]], { namespace: "data", target: o.target });
                    else await store.defrag([["src", 0, SOURCE.length]], { namespace: "data", algorithm: "sha256" });
                  } catch (err) {
                    if (!(err instanceof ObjectNotFound || err instanceof ReadRangeError)) throw err;
                  }
                }),
              );
              await s.waitFor(Promise.all(running));
            }
            primary.tick = cache.tick = undefined;
            await expectCacheAgrees(store, primary, keys);
            expect(store.stats.cache_disabled).toBe(false);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
