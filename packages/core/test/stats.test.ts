import { describe, expect, it } from "vitest";
import { MemoryBackend, ObjectNotFound, Store } from "../src/index.js";
import { StoreStats, TIMED_OPERATIONS } from "../src/store/stats.js";
import { bytes, collect } from "./helpers.js";

describe("StoreStats snapshot", () => {
  it("starts with every key of the reference present and zero, throughputs and hit ratio 0, not NaN", () => {
    const snapshot = new StoreStats().snapshot();
    for (const op of TIMED_OPERATIONS) {
      expect(snapshot[`${op}_calls`]).toBe(0);
      expect(snapshot[`${op}_time`]).toBe(0);
    }
    expect(snapshot).toMatchObject({ load_throughput: 0, store_throughput: 0, cache_hit_ratio: 0, cache_disabled: false });
  });

  it("record counts a call and adds its time, addTime adds time only, each operation on its own", () => {
    const stats = new StoreStats();
    stats.record("load", 0.5);
    stats.record("load", 0.25);
    stats.addTime("load", 1);
    stats.record("store", 2);
    const snapshot = stats.snapshot();
    expect(snapshot).toMatchObject({ load_calls: 2, load_time: 1.75, store_calls: 1, store_time: 2, info_calls: 0, info_time: 0 });
  });

  it("throughput is volume per second of the operation's time, hit ratio is hits per lookup", () => {
    const stats = new StoreStats();
    stats.record("load", 2);
    stats.record("store", 4);
    stats.loadVolume = 1000;
    stats.storeVolume = 1000;
    stats.cacheHits = 3;
    stats.cacheMisses = 1;
    expect(stats.snapshot()).toMatchObject({ load_throughput: 500, store_throughput: 250, cache_hit_ratio: 0.75 });
  });

  it("reports volume without time as throughput 0", () => {
    const stats = new StoreStats();
    stats.loadVolume = 10;
    stats.storeVolume = 10;
    expect(stats.snapshot()).toMatchObject({ load_throughput: 0, store_throughput: 0 });
  });

  it("passes every counter through under its reference name", () => {
    const stats = new StoreStats();
    const counters = {
      backendLoadCalls: "backend_load_calls",
      backendStoreCalls: "backend_store_calls",
      backendDeleteCalls: "backend_delete_calls",
      backendLoadVolume: "backend_load_volume",
      backendStoreVolume: "backend_store_volume",
      cacheHits: "cache_hits",
      cacheMisses: "cache_misses",
      cacheErrors: "cache_errors",
      cacheLoadCalls: "cache_load_calls",
      cacheStoreCalls: "cache_store_calls",
      cacheDeleteCalls: "cache_delete_calls",
      cacheLoadVolume: "cache_load_volume",
      cacheStoreVolume: "cache_store_volume",
      loadVolume: "load_volume",
      storeVolume: "store_volume",
    } as const;
    let n = 1;
    for (const field of Object.keys(counters) as (keyof typeof counters)[]) stats[field] = n++;
    stats.cacheDisabled = true;
    const snapshot = stats.snapshot();
    n = 1;
    for (const key of Object.values(counters)) expect(snapshot[key], key).toBe(n++);
    expect(snapshot.cache_disabled).toBe(true);
  });
});

describe("Store.stats counts what a Store does", () => {
  async function openStore(latency = 0): Promise<Store> {
    const store = new Store({ backend: new MemoryBackend(), config: { "": { levels: [0] } }, latency });
    await store.create();
    await store.open();
    return store;
  }

  it("counts calls, volumes and backend calls of stores, loads, deletes; a failed call is not counted", async () => {
    const store = await openStore();
    await store.store("a", bytes("0123456789"));
    await store.store("b", bytes("01234"));
    expect(await store.load("a")).toEqual(bytes("0123456789"));
    await expect(store.load("missing")).rejects.toThrow(ObjectNotFound);
    await store.delete("b");
    await store.info("a");
    expect(store.stats).toMatchObject({
      store_calls: 2,
      store_volume: 15,
      backend_store_calls: 2,
      backend_store_volume: 15,
      load_calls: 1,
      load_volume: 10,
      backend_load_volume: 10,
      delete_calls: 1,
      backend_delete_calls: 1,
      info_calls: 1,
    });
    await store.close();
  });

  it("times calls in seconds: with 20 ms emulated latency each store and load takes at least 0.02 s", async () => {
    const store = await openStore(20_000);
    await store.store("a", bytes("x"));
    await store.load("a");
    await collect(store.list(""));
    const stats = store.stats;
    expect(stats.store_time).toBeGreaterThanOrEqual(0.019);
    expect(stats.store_time).toBeLessThan(10);
    expect(stats.load_time).toBeGreaterThanOrEqual(0.019);
    expect(stats.list_calls).toBe(1);
    expect(stats.list_time).toBeGreaterThan(0);
    expect(stats.store_throughput).toBeCloseTo(1 / stats.store_time, 6);
    await store.close();
  });
});
