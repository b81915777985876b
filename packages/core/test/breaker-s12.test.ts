// Breaker session 12 (library side, memory backend): findings as it.fails, what held as it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CacheMode, type ItemInfo, MemoryBackend, ObjectNotFound, Store } from "../src/index.js";
import type { BufferLoadOptions } from "../src/types.js";

const te = new TextEncoder();
const td = new TextDecoder();
const quiet = { warn() {} };

/** A primary whose loads read the value, then wait at `gate` before answering (a slow network read). */
class GatedLoads extends MemoryBackend {
  gate: Promise<void> | undefined;
  protected override async _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    const value = await super._load(name, options);
    if (this.gate) await this.gate;
    return value;
  }
}

/** A cache backend whose stores wait at `gate` (a slow cache disk). */
class GatedStores extends MemoryBackend {
  gate: Promise<void> | undefined;
  protected override async _store(name: string, value: Uint8Array): Promise<void> {
    if (this.gate) await this.gate;
    return super._store(name, value);
  }
}

/** A source that reads into one buffer and yields it again and again, as a file reader with a reused buffer does. */
async function* reusingOneBuffer(chunks: number, chunkSize: number): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(chunkSize);
  for (let i = 0; i < chunks; i++) {
    buffer.fill(i + 1);
    yield buffer;
  }
}

function expectedOfReusing(chunks: number, chunkSize: number): Uint8Array {
  const out = new Uint8Array(chunks * chunkSize);
  for (let i = 0; i < chunks; i++) out.fill(i + 1, i * chunkSize, (i + 1) * chunkSize);
  return out;
}

/** A memory backend whose every primitive first waits for a turn the fast-check scheduler hands out. */
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
  protected override async _move(from: string, to: string): Promise<void> {
    await this.#turn();
    return super._move(from, to);
  }
  protected override async _info(name: string) {
    await this.#turn();
    return super._info(name);
  }
}

describe("breaker s12: cache tier", () => {
  // FINDING: MEDIUM: cacheInvalidate of a namespace ("data") or of everything ("") does not catch a
  // load that is filling the cache at that moment: the load read the primary before a change made
  // behind the Store's back, the user then drops the cache, and the load's fill lands afterwards:
  // every later writethrough load serves the old value although the primary holds the new one.
  // cacheInvalidate("data/k") (one key) marks the pending fill stale and holds (see the plain test below).
  // Repro: load (slow primary read) ‖ other writer stores new ‖ cacheInvalidate("data") ‖ load fills → stale hit.
  // fixed: a namespace or whole invalidation marks every load under way below it stale, as a key's
  // does; a load checks that mark and starts its cache write in one synchronous step, so it either
  // skips the write or the invalidation waits for it and its drop (CacheLayer #mutating). A listing
  // that fails now disables the cache. Property: test/cache-change-races.test.ts.
  for (const target of ["data", ""]) {
    it(`a fill in flight during cacheInvalidate(${JSON.stringify(target)}) is not left in the cache`, async () => {
      const volume = `breaker-s12-inv-${target || "all"}`;
      MemoryBackend.forget(volume);
      const primary = new GatedLoads({ name: volume });
      const otherWriter = new MemoryBackend({ name: volume });
      const store = new Store({
        backend: primary,
        cacheBackend: new MemoryBackend(),
        config: { "data/": { levels: [0], cache: CacheMode.WRITETHROUGH } },
        logger: quiet,
      });
      await store.create();
      await store.open();
      await otherWriter.open();
      try {
        await store.store("data/k", te.encode("old"));
        await store.cacheInvalidate("data/k");
        let release!: () => void;
        primary.gate = new Promise((resolve) => {
          release = resolve;
        });
        const loading = store.load("data/k");
        await new Promise((resolve) => setTimeout(resolve, 10));
        await otherWriter.store("data/k", te.encode("new"));
        await store.cacheInvalidate(target);
        primary.gate = undefined;
        release();
        expect(td.decode(await loading)).toBe("old"); // began before the change: fine
        expect(td.decode(await store.load("data/k"))).toBe("new");
      } finally {
        await store.close();
        await otherWriter.close();
      }
    });
  }

  // FINDING: MEDIUM: Store.defrag writes its target in the primary directly and then only
  // invalidates the cached copy; it does not take its turn with the cache layer's changes of that
  // name. A store of the same name whose primary write is done but whose cache copy is still being
  // written lands that copy after the defrag's invalidation: both calls resolve, the primary holds the
  // defrag's bytes, every later writethrough load serves the store's (until the copy is evicted).
  // Repro: store("data/t", A) (cache write slow) ‖ defrag([["src",0,n]], {target:"t"}) → load("data/t") = A, primary = defrag.
  // fixed: Store.defrag writes a named target through CacheLayer.changeInPrimary (in the name's turn
  // with stores and deletes of it, then drops the copy); a digest-named target drops its copy in its
  // turn once known (changedInPrimary). The defrag now waits for the store's cache write, so this
  // test releases that write while the defrag waits. Property: test/cache-change-races.test.ts.
  it("a defrag overlapping a store of its target leaves no stale copy", async () => {
    const cache = new GatedStores();
    const store = new Store({
      backend: new MemoryBackend(),
      cacheBackend: cache,
      config: { "data/": { levels: [0], cache: CacheMode.WRITETHROUGH } },
      logger: quiet,
    });
    await store.create();
    await store.open();
    try {
      await store.store("data/src", te.encode("from-defrag"));
      let release!: () => void;
      cache.gate = new Promise((resolve) => {
        release = resolve;
      });
      const storing = store.store("data/t", te.encode("from-store"));
      await new Promise((resolve) => setTimeout(resolve, 10));
      // The defrag now waits for the store's turn (its cache write): released once the defrag is under way.
      const defragging = store.defrag([["src", 0, 11]], { namespace: "data", target: "t" });
      await new Promise((resolve) => setTimeout(resolve, 10));
      cache.gate = undefined;
      release();
      await storing;
      await defragging;
      const primary = td.decode(await (store.backend as MemoryBackend).load("data/t"));
      expect(td.decode(await store.load("data/t"))).toBe(primary);
    } finally {
      await store.close();
    }
  });

  it("a fill in flight during cacheInvalidate of the one key is dropped (held)", async () => {
    const volume = "breaker-s12-inv-key";
    MemoryBackend.forget(volume);
    const primary = new GatedLoads({ name: volume });
    const otherWriter = new MemoryBackend({ name: volume });
    const store = new Store({
      backend: primary,
      cacheBackend: new MemoryBackend(),
      config: { "data/": { levels: [0], cache: CacheMode.WRITETHROUGH } },
      logger: quiet,
    });
    await store.create();
    await store.open();
    await otherWriter.open();
    try {
      await store.store("data/k", te.encode("old"));
      await store.cacheInvalidate("data/k");
      let release!: () => void;
      primary.gate = new Promise((resolve) => {
        release = resolve;
      });
      const loading = store.load("data/k");
      await new Promise((resolve) => setTimeout(resolve, 10));
      await otherWriter.store("data/k", te.encode("new"));
      const invalidating = store.cacheInvalidate("data/k");
      await new Promise((resolve) => setTimeout(resolve, 10));
      primary.gate = undefined;
      release();
      await invalidating;
      await loading;
      expect(td.decode(await store.load("data/k"))).toBe("new");
    } finally {
      await store.close();
      await otherWriter.close();
    }
  });

  it("random concurrent operations through a writethrough or mirror cache leave no copy the primary does not hold (held)", async () => {
    const keys = ["data/aa01", "data/aa02", "data/bb01"];
    const op = fc.oneof(
      fc.record({ kind: fc.constant("store" as const), key: fc.constantFrom(...keys), value: fc.uint8Array({ maxLength: 40 }) }),
      fc.record({ kind: fc.constant("stream" as const), key: fc.constantFrom(...keys), value: fc.uint8Array({ maxLength: 40 }) }),
      fc.record({ kind: fc.constant("load" as const), key: fc.constantFrom(...keys), offset: fc.integer({ min: -50, max: 50 }) }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("softDelete" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("undelete" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("move" as const), key: fc.constantFrom(...keys), to: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("invalidate" as const), key: fc.constantFrom(...keys, "data", "") }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 6 }), fc.scheduler(), fc.constantFrom(CacheMode.WRITETHROUGH, CacheMode.MIRROR), async (batches, s, mode) => {
        const primary = new Scheduled();
        const cache = new Scheduled();
        const store = new Store({
          backend: primary,
          cacheBackend: cache,
          config: { "data/": { levels: [1, 2], cache: mode } },
          logger: quiet,
        });
        await store.create();
        await store.open();
        primary.tick = cache.tick = () => s.schedule(Promise.resolve("turn"));
        try {
          for (const batch of batches) {
            const running = batch.map((o) =>
              s.schedule(Promise.resolve(o.kind)).then(async () => {
                try {
                  if (o.kind === "store") await store.store(o.key, o.value);
                  else if (o.kind === "stream")
                    await store.storeStream(
                      o.key,
                      (async function* () {
                        yield o.value.slice(0, 5);
                        yield o.value.slice(5);
                      })(),
                    );
                  else if (o.kind === "load") await store.load(o.key, { offset: o.offset });
                  else if (o.kind === "delete") await store.delete(o.key);
                  else if (o.kind === "softDelete") await store.move(o.key, { delete: true });
                  else if (o.kind === "undelete") await store.move(o.key, { undelete: true });
                  else if (o.kind === "move") await store.move(o.key, { newName: o.to });
                  else await store.cacheInvalidate(o.key);
                } catch (err) {
                  if (!(err instanceof ObjectNotFound)) throw err;
                }
              }),
            );
            await s.waitFor(Promise.all(running));
          }
          primary.tick = cache.tick = undefined;
          for (const key of keys)
            for (const deleted of [false, true]) {
              const nested = await store.find(key, { deleted });
              const inPrimary = await primary.load(nested).catch(() => undefined);
              const viaStore = await store.load(key, { deleted }).catch(() => undefined);
              expect(viaStore && Buffer.from(viaStore).toString("hex")).toBe(inPrimary && Buffer.from(inPrimary).toString("hex"));
            }
        } finally {
          await store.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("breaker s12: storeStream over the memory backend", () => {
  // FINDING: MEDIUM: storeStream keeps the source's chunks by reference until the end of the
  // stream (the default _storeStream collects them): a source that reuses one buffer for its
  // chunks (the usual fs read loop `fh.read(buf)` / `yield buf.subarray(0, n)`) stores the last
  // chunk's bytes N times: bytes the caller never stored. Nothing in the docs says chunks must stay
  // untouched once yielded. Repro: storeStream(name, gen yielding one buffer filled 1,2,3,4) → load = 4,4,4,4.
  // documented: such a source breaks the storeStream contract, now stated on Store.storeStream and in
  // the core README as it was on Backend.storeStream (the source must not change a chunk after
  // yielding it until the call settles); copying every chunk would cost every caller. Stays it.fails.
  it.fails("a source reusing its chunk buffer stores what it yielded", async () => {
    const store = new Store({ backend: new MemoryBackend(), config: { "data/": { levels: [1] } } });
    await store.create();
    await store.open();
    try {
      await store.storeStream("data/aabb", reusingOneBuffer(4, 1024));
      expect(Buffer.from(await store.load("data/aabb")).equals(Buffer.from(expectedOfReusing(4, 1024)))).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe("breaker s12: Store model check over the memory backend", () => {
  it("random operation sequences match a Map model: levels, soft delete, moves, ranges, into (held)", async () => {
    // Full-length keys only: a 2-character key names a nesting directory (see the finding above).
    const keys = ["data/0011", "data/0022", "data/ff00", "meta/x", "data/00ff"];
    const op = fc.oneof(
      fc.record({ kind: fc.constant("store" as const), key: fc.constantFrom(...keys), value: fc.uint8Array({ maxLength: 70 }) }),
      fc.record({
        kind: fc.constant("load" as const),
        key: fc.constantFrom(...keys),
        deleted: fc.boolean(),
        offset: fc.option(fc.integer({ min: -80, max: 80 }), { nil: undefined }),
        size: fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }),
        into: fc.option(fc.integer({ min: 0, max: 90 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom(...keys), deleted: fc.boolean() }),
      fc.record({ kind: fc.constant("softDelete" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("undelete" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("changeLevel" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("move" as const), key: fc.constantFrom(...keys), to: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("setLevels" as const), levels: fc.constantFrom<number[]>([1], [0, 1], [1, 2], [2, 1]) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const store = new Store({ backend: new MemoryBackend(), config: { "data/": { levels: [1] }, "meta/": { levels: [0] } } });
        await store.create();
        await store.open();
        await store.backend?.mkdir("data");
        const live = new Map<string, Uint8Array>();
        const dead = new Map<string, Uint8Array>();
        const side = (deleted: boolean) => (deleted ? dead : live);
        try {
          for (const o of ops) {
            if (o.kind === "store") {
              await store.store(o.key, o.value);
              live.set(o.key, o.value);
            } else if (o.kind === "load") {
              const want = side(o.deleted).get(o.key);
              const into = o.into === undefined ? undefined : new Uint8Array(o.into);
              const got = await store.load(o.key, { deleted: o.deleted, offset: o.offset, size: o.size, into }).catch((e) => e);
              if (!want) expect(got).toBeInstanceOf(ObjectNotFound);
              else {
                const offset = o.offset ?? 0;
                const start = offset < 0 ? Math.max(0, want.length + offset) : Math.min(offset, want.length);
                const end = o.size === undefined ? want.length : Math.min(want.length, start + o.size);
                expect(Buffer.from(got as Uint8Array).toString("hex")).toBe(Buffer.from(want.subarray(start, end)).toString("hex"));
              }
            } else if (o.kind === "delete") {
              const had = side(o.deleted).delete(o.key);
              const r = await store.delete(o.key, { deleted: o.deleted }).catch((e) => e);
              if (had) expect(r).toBeUndefined();
              else expect(r).toBeInstanceOf(ObjectNotFound);
            } else if (o.kind === "softDelete" || o.kind === "undelete") {
              const [from, to] = o.kind === "softDelete" ? [live, dead] : [dead, live];
              const value = from.get(o.key);
              const r = await store.move(o.key, o.kind === "softDelete" ? { delete: true } : { undelete: true }).catch((e) => e);
              if (value) {
                expect(r).toBeUndefined();
                from.delete(o.key);
                to.set(o.key, value);
              } else expect(r).toBeInstanceOf(ObjectNotFound);
            } else if (o.kind === "changeLevel") {
              const r = await store.move(o.key, { changeLevel: true }).catch((e) => e);
              if (live.has(o.key)) expect(r).toBeUndefined();
              else expect(r).toBeInstanceOf(ObjectNotFound);
            } else if (o.kind === "move") {
              const value = live.get(o.key);
              const r = await store.move(o.key, { newName: o.to }).catch((e) => e);
              if (!value) expect(r).toBeInstanceOf(ObjectNotFound);
              else if (r === undefined) {
                live.delete(o.key);
                live.set(o.to, value);
              } else throw r;
            } else {
              // Old items stay findable as long as their level is still listed; keep the model simple:
              // only add levels (the current last level stays first or the list grows).
              const current = store.policies.find((p) => p.namespace === "data/")?.levels ?? [];
              if (!current.every((l) => o.levels.includes(l))) continue;
              await store.setLevels({ "data/": o.levels, "meta/": [0] });
            }
          }
          const listed = new Map<string, string>();
          for await (const info of store.list("data")) listed.set(`data/${(info as ItemInfo).name}`, String(info.size));
          const modelData = [...live].filter(([k]) => k.startsWith("data/"));
          expect(new Map(modelData.map(([k, v]) => [k, String(v.length)]))).toEqual(listed);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});
