import { afterEach, describe, expect, it } from "vitest";
import { InvalidArgument, MemoryBackend, Store } from "../src/index.js";
import { Emulation } from "../src/backend-kit/index.js";
import { bytes, collect } from "./helpers.js";

const saved = { latency: process.env.BORGSTORE_LATENCY, bandwidth: process.env.BORGSTORE_BANDWIDTH };

afterEach(() => {
  for (const [name, value] of [
    ["BORGSTORE_LATENCY", saved.latency],
    ["BORGSTORE_BANDWIDTH", saved.bandwidth],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

async function newStore(config = { "": { levels: [0] } }) {
  const store = new Store({ backend: new MemoryBackend(), config });
  await store.create();
  await store.open();
  return store;
}

describe("latency and bandwidth emulation", () => {
  it("adds BORGSTORE_LATENCY (µs, read at construction) to every primary call", async () => {
    process.env.BORGSTORE_LATENCY = "30000"; // 30 ms
    const store = await newStore();
    delete process.env.BORGSTORE_LATENCY; // read at construction: no effect any more
    await store.store("a", bytes("x"));
    const ops: Array<() => Promise<unknown>> = [
      () => store.store("b", bytes("x")),
      () => store.load("a"),
      () => store.info("a"),
      () => store.hash("a"),
      () => store.move("b", { newName: "c" }),
      () => store.delete("c"),
    ];
    for (const op of ops) {
      const t = await timed(op);
      expect(t).toBeGreaterThanOrEqual(0.028);
      expect(t).toBeLessThan(0.5);
    }
    expect(store.stats.load_time).toBeGreaterThanOrEqual(0.028);
    await store.close();
  });

  it("sleeps once per directory in list, not per item", async () => {
    process.env.BORGSTORE_LATENCY = "30000";
    const store = new Store({ backend: new MemoryBackend(), config: { "": { levels: [1] } }, listReadAhead: 1 });
    await store.create();
    await store.open();
    for (const k of ["00000001", "00000002", "00000003", "01000000"]) await store.store(k, bytes("x"));
    // root + directories 00 and 01 = 3 backend lists, one after the other
    const t = await timed(() => collect(store.list("")));
    expect(t).toBeGreaterThanOrEqual(0.089);
    expect(t).toBeLessThan(0.5);
    expect(store.stats.list_time).toBeGreaterThanOrEqual(0.089);
    await store.close();
  });

  it("overlaps the per-directory latency of nesting directories with list read-ahead", async () => {
    const backend = new MemoryBackend();
    const writer = new Store({ backend, config: { "": { levels: [1] } } });
    await writer.create();
    await writer.open();
    const keys = Array.from({ length: 20 }, (_, i) => `${i.toString(16).padStart(2, "0")}000000`);
    for (const k of keys) await writer.store(k, bytes("x"));
    const listing = async (listReadAhead: number) => {
      const store = new Store({ backend, config: { "": { levels: [1] } }, latency: 20_000, listReadAhead });
      let names: string[] = [];
      const t = await timed(async () => (names = (await collect(store.list(""))).map((i) => i.name)));
      return { t, names };
    };
    const sequential = await listing(1);
    const ahead = await listing(16);
    expect(sequential.names).toEqual(keys);
    expect(ahead.names).toEqual(keys);
    expect(sequential.t).toBeGreaterThanOrEqual(21 * 0.02); // root + 20 directories
    expect(ahead.t).toBeLessThan(sequential.t / 3);
    await writer.close();
  });

  it("limits throughput to BORGSTORE_BANDWIDTH (bit/s)", async () => {
    process.env.BORGSTORE_BANDWIDTH = "8000"; // 1000 bytes/s
    const store = await newStore();
    expect(await timed(() => store.store("a", new Uint8Array(100)))).toBeGreaterThanOrEqual(0.098);
    expect(await timed(() => store.load("a", { size: 50 }))).toBeGreaterThanOrEqual(0.048);
    expect(await timed(() => store.info("a"))).toBeLessThan(0.05);
    await store.close();
  });

  it("lets options override the environment", async () => {
    process.env.BORGSTORE_LATENCY = "1000000";
    const store = new Store({ backend: new MemoryBackend(), config: { "": { levels: [0] } }, latency: 0 });
    await store.create();
    await store.open();
    expect(await timed(() => store.store("a", bytes("x")))).toBeLessThan(0.5);
    await store.close();
  });

  it("rejects negative or non-numeric settings", () => {
    expect(() => new Emulation(-1, 0)).toThrow(InvalidArgument);
    expect(() => Emulation.fromEnv({ BORGSTORE_BANDWIDTH: "fast" })).toThrow(InvalidArgument);
    expect(Emulation.fromEnv({}).active).toBe(false);
  });
});
