import { getEventListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCodes, MemoryBackend, Store } from "../src/index.js";
import { CountingLayer, EmulationLayer } from "../src/backend-kit/index.js";

// Breaker tests of the per-request performance changes (abortable iterator, LayerCalls in the
// counting and emulation layers, Store.info without find, Backend.info/load/hash/quota races).

const KEY = `data/${"ab".repeat(32)}`;

async function openStore(latencyMicroseconds = 0): Promise<Store> {
  const store = new Store({ backend: new MemoryBackend(), latency: latencyMicroseconds, config: { "data/": { levels: [1] } } });
  await store.create();
  await store.open();
  return store;
}

async function codeOf(pending: Promise<unknown>): Promise<string> {
  try {
    await pending;
    return "resolved";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe("Store statistics of aborted reads (counting layer over LayerCalls)", () => {
  // Breaker finding (fixed since): the counting layer now calls the emulation layer below through LayerCalls, which do
  // not race the signal: an aborted Store.load/info (the caller got ABORTED) is counted once the
  // backend below finishes, as a *successful* call with its bytes in load_volume. Regression (main: 0, 0, 0).
  it("an aborted load and an aborted info are not counted as successful calls", async () => {
    const store = await openStore(200_000); // 200 ms emulated latency per primary call
    try {
      await store.store(KEY, new Uint8Array(1000));
      expect(await codeOf(store.load(KEY, { signal: AbortSignal.timeout(30) }))).toBe(ErrorCodes.ABORTED);
      expect(await codeOf(store.info(KEY, { signal: AbortSignal.timeout(30) }))).toBe(ErrorCodes.ABORTED);
      await sleep(450); // the emulated calls below have ended by now
      const stats = store.stats;
      expect({ load: stats.load_calls, volume: stats.load_volume, info: stats.info_calls }).toEqual({ load: 0, volume: 0, info: 0 });
    } finally {
      await store.close();
    }
  });

  it("emulated latency still applies to info, load and list through the Store", async () => {
    const store = await openStore(60_000);
    try {
      await store.store(KEY, new Uint8Array(10));
      for (const call of [() => store.info(KEY), () => store.load(KEY), async () => store.list("data")]) {
        const start = performance.now();
        const result = await call();
        if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function")
          for await (const _ of result as AsyncIterable<unknown>);
        expect(performance.now() - start).toBeGreaterThanOrEqual(55);
      }
    } finally {
      await store.close();
    }
  });
});

describe("counting layer figures under concurrency and errors", () => {
  it("counts succeeded and failed calls exactly when they overlap", async () => {
    const memory = new MemoryBackend();
    const counting = new CountingLayer(new EmulationLayer(memory, { latency: 2_000 }));
    await counting.create();
    await counting.open();
    try {
      const names = Array.from({ length: 40 }, (_, i) => `n${i}`);
      await Promise.all(names.map((n) => counting.store(n, new Uint8Array(3))));
      const loads = names.flatMap((n) => [counting.load(n), counting.load(`${n}-missing`)]);
      const results = await Promise.allSettled([...loads, ...names.map((n) => counting.info(n)), counting.delete("nope")]);
      expect(results.filter((r) => r.status === "rejected")).toHaveLength(41);
      const { operations, loadVolume, storeVolume } = counting.counts;
      expect(operations.load).toMatchObject({ succeeded: 40, failed: 40 });
      expect(operations.info).toMatchObject({ succeeded: 40, failed: 0 });
      expect(operations.delete).toMatchObject({ succeeded: 0, failed: 1 });
      expect({ loadVolume, storeVolume }).toEqual({ loadVolume: 120, storeVolume: 120 });
    } finally {
      await counting.close();
    }
  });

  // Breaker finding (fixed since): CountingLayer._list now iterates the inner backend through LayerCalls.list, which is
  // not abortable: a list its caller aborted (ABORTED) ends the counting generator by return()
  // and is counted as a successful list with its seconds. Regression (base: failed 1, succeeded 0).
  it("a list aborted while its first step is pending counts as failed, not succeeded", async () => {
    const layer = new CountingLayer(new EmulationLayer(new MemoryBackend(), { latency: 80_000 }));
    await layer.create();
    await layer.open();
    try {
      await layer.mkdir("d");
      expect(await codeOf(collect(layer.list("d", { signal: AbortSignal.timeout(20) })))).toBe(ErrorCodes.ABORTED);
      await sleep(250);
      expect(layer.counts.operations.list).toMatchObject({ succeeded: 0, failed: 1 });
    } finally {
      await layer.close();
    }
  });

  it("a layer still enforces the inner backend's permissions and a name check on every entry point", async () => {
    const shared = `breaker-sr-${process.pid}-${Date.now()}`;
    await new MemoryBackend({ name: shared }).create();
    const inner = new MemoryBackend({ name: shared, permissions: { "": "lr" } });
    const layer = new CountingLayer(new EmulationLayer(inner, { latency: 1 }));
    await layer.open();
    try {
      expect(inner.opened).toBe(true);
      for (const denied of [
        layer.store("x", new Uint8Array(1)),
        layer.delete("x"),
        layer.move("x", "y"),
        layer.mkdir("d"),
        layer.checkStorePermission("x"),
      ])
        expect(await codeOf(denied)).toBe(ErrorCodes.PERMISSION_DENIED);
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 12 }), async (name) => {
          const valid = await codeOf(inner.info(name));
          // Through two layers a name gets exactly the code the backend itself gives it.
          expect(await codeOf(layer.info(name))).toBe(valid);
          expect(await codeOf(layer.load(name))).toBe(await codeOf(inner.load(name)));
        }),
        { numRuns: 150 },
      );
    } finally {
      await layer.close();
    }
  });
});

/** A slow source of `count` items, each after `delayMs`. */
async function* slowItems(count: number, delayMs: number): AsyncGenerator<number> {
  for (let i = 0; i < count; i++) {
    await sleep(delayMs);
    yield i;
  }
}

describe("abortable iterators and signal listeners", () => {
  it("ABORTED before, during and between steps of a list, and after the last one", async () => {
    const backend = new EmulationLayer(new MemoryBackend(), { latency: 20_000 });
    await backend.create();
    await backend.open();
    try {
      for (const n of ["a", "b", "c"]) await backend.store(`d/${n}`, new Uint8Array(1));
      const before = new AbortController();
      before.abort();
      expect(await codeOf(collect(backend.list("d", { signal: before.signal })))).toBe(ErrorCodes.ABORTED);
      // during the pending first step (the emulated list pause)
      expect(await codeOf(collect(backend.list("d", { signal: AbortSignal.timeout(5) })))).toBe(ErrorCodes.ABORTED);
      // between steps
      const between = new AbortController();
      const seen: string[] = [];
      const run = (async () => {
        for await (const item of backend.list("d", { signal: between.signal })) {
          seen.push(item.name);
          between.abort();
        }
      })();
      expect(await codeOf(run)).toBe(ErrorCodes.ABORTED);
      expect(seen).toHaveLength(1);
    } finally {
      await backend.close();
    }
  });

  it("one abort listener per signal, however many reads and list steps used it", async () => {
    const backend = new MemoryBackend();
    await backend.create();
    await backend.open();
    try {
      for (let i = 0; i < 20; i++) await backend.store(`d/n${i}`, new Uint8Array(4));
      const controller = new AbortController();
      const { signal } = controller;
      for (let round = 0; round < 50; round++) {
        await backend.load(`d/n${round % 20}`, { signal });
        await backend.info(`d/n${round % 20}`, { signal });
        await backend.hash(`d/n${round % 20}`, "sha256", { signal });
        await backend.quota({ signal });
        await codeOf(backend.load("d/missing", { signal }));
        let k = 0;
        for await (const _ of backend.list("d", { signal })) if (++k === 5) break;
        await collect(backend.list("d", { signal }));
      }
      expect(getEventListeners(signal, "abort").length).toBeLessThanOrEqual(1);
      controller.abort();
      expect(await codeOf(backend.load("d/n1", { signal }))).toBe(ErrorCodes.ABORTED);
    } finally {
      await backend.close();
    }
  });

  it("a step pending when the abort arrives, and a second step asked for meanwhile, both end ABORTED; the source is closed", async () => {
    const { abortable } = await import("../src/backend-kit/index.js");
    let closed = false;
    async function* source(): AsyncGenerator<number> {
      try {
        yield* slowItems(100, 15);
      } finally {
        closed = true;
      }
    }
    const controller = new AbortController();
    const iterator = abortable(source(), controller.signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toBe(0);
    const first = iterator.next();
    const second = iterator.next();
    controller.abort();
    expect(await codeOf(first)).toBe(ErrorCodes.ABORTED);
    expect(await codeOf(second)).toBe(ErrorCodes.ABORTED);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    await sleep(60);
    expect(closed).toBe(true);
    expect(getEventListeners(controller.signal, "abort").length).toBeLessThanOrEqual(1);
  });

  it("an abort fired as the source reports its end stops the consumer before it sees the end", async () => {
    const { abortable } = await import("../src/backend-kit/index.js");
    for (const delay of [0, 1, 2]) {
      const controller = new AbortController();
      async function* ending(): AsyncGenerator<number> {
        yield 1;
        await sleep(delay);
        controller.abort();
      }
      const got: number[] = [];
      const run = (async () => {
        for await (const v of abortable(ending(), controller.signal)) got.push(v);
      })();
      expect(await codeOf(run)).toBe(ErrorCodes.ABORTED);
      expect(got).toEqual([1]);
    }
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
