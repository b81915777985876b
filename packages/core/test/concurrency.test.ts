import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { type ItemInfo, type LoadOptions, MemoryBackend, Store } from "../src/index.js";
import { bytes, collect, key, names, text } from "./helpers.js";

/** A MemoryBackend whose primitives take a moment, so that many Store calls really overlap. */
class SlowMemory extends MemoryBackend {
  inFlight = 0;
  maxInFlight = 0;

  async #slowly<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await sleep(1);
      return await work();
    } finally {
      this.inFlight--;
    }
  }

  protected override _store(name: string, value: Uint8Array) {
    return this.#slowly(() => super._store(name, value));
  }
  protected override _load(name: string, options: LoadOptions) {
    return this.#slowly(() => super._load(name, options));
  }
  protected override _info(name: string): Promise<ItemInfo> {
    return this.#slowly(() => super._info(name));
  }
  protected override _delete(name: string) {
    return this.#slowly(() => super._delete(name));
  }
}

async function openStore(backend: MemoryBackend, config = { "zero/": { levels: [0] } }) {
  const store = new Store({ backend, config });
  await store.create();
  await store.open();
  return store;
}

describe("Store with many operations in flight", () => {
  it("runs 4 workers × 20 store/load/info/list/delete rounds at once without errors", async () => {
    const backend = new SlowMemory();
    const store = await openStore(backend);
    const worker = async (w: number) => {
      for (let i = 0; i < 20; i++) {
        const name = `zero/${key(w * 1000 + i)}`;
        const value = bytes(`${w}:${i}`);
        await store.store(name, value);
        expect(text(await store.load(name))).toBe(`${w}:${i}`);
        expect((await store.info(name)).size).toBe(value.byteLength);
        expect(await names(store.list("zero"))).toContain(key(w * 1000 + i));
        await store.delete(name);
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    expect(backend.maxInFlight).toBeGreaterThan(1);
    expect(await names(store.list("zero"))).toEqual([]);
    expect(store.stats).toMatchObject({ store_calls: 80, load_calls: 80, info_calls: 80, list_calls: 81, delete_calls: 80 });
    await store.close();
  });

  it("keeps a long list lazy while stores run inside the loop and from other promises", async () => {
    const backend = new SlowMemory();
    const store = await openStore(backend, { "zero/": { levels: [0] }, "one/": { levels: [1] } } as never);
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.store(`one/${key(i)}`, bytes("x"))));
    const background = Promise.all(Array.from({ length: 50 }, (_, i) => store.store(`zero/${key(i)}`, bytes("y"))));
    let seen = 0;
    for await (const item of store.list("one")) {
      seen++;
      if (seen % 20 === 0) await store.store(`zero/${item.name}x`, bytes("z"));
    }
    await background;
    expect(seen).toBe(200);
    expect((await collect(store.list("zero"))).length).toBe(60);
    await store.close();
  });

  it("keeps store and load counts exact with 500 calls in flight", async () => {
    const backend = new SlowMemory();
    const store = await openStore(backend);
    await Promise.all(Array.from({ length: 250 }, (_, i) => store.store(`zero/${key(i)}`, new Uint8Array(10))));
    await Promise.all(Array.from({ length: 250 }, (_, i) => store.load(`zero/${key(i)}`)));
    expect(backend.maxInFlight).toBeGreaterThan(10);
    expect(store.stats).toMatchObject({
      store_calls: 250,
      load_calls: 250,
      store_volume: 2500,
      load_volume: 2500,
      backend_store_calls: 250,
      backend_load_calls: 250,
    });
    await store.close();
  });

  it("resolves a URL once and keeps that backend", async () => {
    const store = new Store({ url: "memory:", config: { "": { levels: [0] } } });
    await store.create();
    const b = store.backend;
    await store.open();
    expect(store.backend).toBe(b);
    await store.close();
  });
});
