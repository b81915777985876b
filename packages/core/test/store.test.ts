import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BackendMustBeOpen,
  BackendURLInvalid,
  type CacheMode,
  InvalidArgument,
  MemoryBackend,
  NoBackendGiven,
  ObjectNotFound,
  ReadRangeError,
  Store,
  UnsupportedHashAlgorithm,
  nest,
} from "../src/index.js";
import { bytes, collect, key, names, text } from "./helpers.js";

const CONFIG = { "zero/": { levels: [0] }, "one/": { levels: [1] }, "two/": { levels: [2] } };

let backend: MemoryBackend;
let store: Store;

async function listNames(name: string, deleted = false): Promise<string[]> {
  return names(store.list(name, { deleted }));
}

beforeEach(async () => {
  backend = new MemoryBackend();
  store = new Store({ backend, config: CONFIG });
  await store.create();
  await store.open();
});

afterEach(async () => {
  if (backend.opened) await store.close();
});

describe("Store construction", () => {
  it("needs a backend or a URL (NoBackendGiven)", () => {
    expect(() => new Store({ config: CONFIG })).toThrow(NoBackendGiven);
  });

  it("lets a backend instance win over a URL", async () => {
    const s = new Store({ backend, url: "nope://x", config: CONFIG });
    expect(s.backend).toBe(backend);
  });

  it("resolves a URL lazily, at create/open/destroy", async () => {
    const s = new Store({ url: "memory:", config: CONFIG });
    expect(s.backend).toBeUndefined();
    await expect(s.load("zero/x")).rejects.toBeInstanceOf(BackendMustBeOpen);
    await s.create();
    expect(s.backend).toBeInstanceOf(MemoryBackend);
    await s.open();
    await s.store("zero/x", bytes("v"));
    expect(text(await s.load("zero/x"))).toBe("v");
    await s.close();
    await s.destroy();
  });

  it("reports an invalid URL at first use, or at once with Store.fromUrl", async () => {
    const s = new Store({ url: "bogus://x", config: CONFIG });
    await expect(s.open()).rejects.toBeInstanceOf(BackendURLInvalid);
    await expect(Store.fromUrl("bogus://x", { config: CONFIG })).rejects.toBeInstanceOf(BackendURLInvalid);
    const ok = await Store.fromUrl("memory:", { config: CONFIG });
    expect(ok.backend).toBeInstanceOf(MemoryBackend);
    expect(ok.url).toBe("memory:");
  });

  it("forwards permissions to the URL's backend", async () => {
    const s = new Store({ url: "memory:", config: CONFIG, permissions: { "": "lr" } });
    await expect(s.create()).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
  });
});

describe("Store basics", () => {
  it("nests names per namespace and shows the nesting directories in the backend", async () => {
    const k0 = key(0);
    await store.store(`two/${k0}`, bytes("hello"));
    expect(text(await store.load(`two/${k0}`))).toBe("hello");
    expect(await store.info(`two/${k0}`)).toMatchObject({ name: k0, exists: true, size: 5 });
    expect(await names(backend.list(""))).toEqual(["two"]);
    expect(await names(backend.list("two"))).toEqual(["00"]);
    expect(await names(backend.list("two/00"))).toEqual(["00"]);
    expect(await names(backend.list("two/00/00"))).toEqual([k0]);
    expect(await listNames("two")).toEqual([k0]);
    await store.delete(`two/${k0}`);
    expect(await listNames("two")).toEqual([]);
    expect(store.stats.backend_delete_calls).toBe(1);
  });

  it("computes nested names from the namespace configuration", async () => {
    expect(await store.find("zero/something")).toBe("zero/something");
    expect(await store.find("one/1234")).toBe("one/12/1234");
    expect(await store.find("two/12345678")).toBe("two/12/34/12345678");
    expect(await store.find("two/12345678", { deleted: true })).toBe("two/12/34/12345678.del");
  });

  it("rejects a name outside every configured namespace", async () => {
    await expect(store.store("other/x", bytes("1"))).rejects.toBeInstanceOf(InvalidArgument);
  });

  it("loads partial values", async () => {
    await store.store("one/0123", bytes("0123456789"));
    expect(text(await store.load("one/0123", { size: 3 }))).toBe("012");
    expect(text(await store.load("one/0123", { offset: 5 }))).toBe("56789");
    expect(text(await store.load("one/0123", { offset: 2, size: 3 }))).toBe("234");
    expect(text(await store.load("one/0123", { offset: -4, size: 2 }))).toBe("67");
  });

  it("stores typed-array views as bytes and counts bytes in store_volume", async () => {
    await store.store("zero/a", new Uint8Array(bytes("x".repeat(20)).buffer, 0, 20));
    await store.store("zero/b", new Uint32Array(16));
    expect((await store.info("zero/b")).size).toBe(64);
    expect(store.stats.store_volume).toBe(84);
  });

  it("keeps the value as it was at store time when the caller reuses its buffer", async () => {
    const buffer = bytes("original");
    await store.store("zero/m", buffer.subarray(0, 4));
    buffer.fill(0x78);
    expect(text(await store.load("zero/m"))).toBe("orig");
  });

  it("streams big values in and out", async () => {
    await store.storeStream("two/12345678", (async function* () {
      yield bytes("ab");
      yield bytes("cd");
    })());
    const chunks = await collect(await store.loadStream("two/12345678", { offset: 1 }));
    expect(chunks.map(text).join("")).toBe("bcd");
    expect(store.stats).toMatchObject({ store_calls: 1, store_volume: 4, load_calls: 1, load_volume: 3 });
  });

  it("lists 100 flat and 1000 nested items in sorted order", async () => {
    const flat = Array.from({ length: 100 }, (_, i) => key(i * 7919));
    const nested = Array.from({ length: 1000 }, (_, i) => key(i * 104729));
    await Promise.all(flat.map((k) => store.store(`zero/${k}`, bytes(k))));
    await Promise.all(nested.map((k) => store.store(`one/${k}`, bytes(k))));
    expect(await listNames("zero")).toEqual([...flat].sort());
    expect(await listNames("one")).toEqual([...nested].sort());
  });

  it("keeps lists sorted at nesting levels 0, 1 and 2", async () => {
    const keys = [key(0xffff), key(1), key(0x100), key(0x7f0000), key(0x10203040)];
    for (const ns of ["zero", "one", "two"]) {
      for (const k of keys) await store.store(`${ns}/${k}`, bytes(k));
      expect(await listNames(ns)).toEqual([...keys].sort());
    }
  });

  it("lists lazily: stores inside the loop work", async () => {
    for (let i = 0; i < 10; i++) await store.store(`zero/${key(i)}`, bytes("x"));
    const seen: string[] = [];
    for await (const item of store.list("zero")) {
      seen.push(item.name);
      await store.store(`one/${item.name}`, bytes("y"));
    }
    expect(seen).toHaveLength(10);
    expect(await listNames("one")).toHaveLength(10);
  });

  it("lists the same with and without read-ahead, including the deleted filter", async () => {
    const keys = Array.from({ length: 300 }, (_, i) => key((i * 2654435761) >>> 0));
    await Promise.all(keys.map((k) => store.store(`two/${k}`, bytes(k))));
    for (const k of keys.slice(0, 50)) await store.move(`two/${k}`, { delete: true });
    for (const listReadAhead of [1, 2, 16, 1000]) {
      const s = new Store({ backend, config: CONFIG, listReadAhead });
      expect(await names(s.list("two"))).toEqual(keys.slice(50).sort());
      expect(await names(s.list("two", { deleted: true }))).toEqual(keys.slice(0, 50).sort());
    }
    expect(() => new Store({ backend, config: CONFIG, listReadAhead: 0 })).toThrow(InvalidArgument);
  });

  it("stops cleanly when the caller leaves a list early, even if a directory read ahead fails", async () => {
    class BrokenDir extends MemoryBackend {
      protected override async *_list(name: string) {
        if (name === "two/ff") throw new Error("disk error in two/ff");
        yield* super._list(name);
      }
    }
    const b = new BrokenDir();
    const s = new Store({ backend: b, config: CONFIG });
    await s.create();
    await s.open();
    await s.store("two/00000000", bytes("a"));
    await s.store("two/ff000000", bytes("b"));
    for await (const item of s.list("two")) {
      expect(item.name).toBe("00000000");
      break;
    }
    await expect(collect(s.list("two"))).rejects.toThrow("disk error in two/ff");
    await s.close();
  });

  it("accepts a namespace with a trailing slash in list", async () => {
    await store.store("zero/a", bytes("1"));
    expect(await listNames("zero/")).toEqual(["a"]);
  });

  it("reports quota -1/-1 for a backend without quota", async () => {
    expect(await store.quota()).toEqual({ limit: -1, usage: -1 });
  });
});

describe("Store moves and soft delete", () => {
  it("hides a soft-deleted item from list and shows it in the deleted list; undelete reverses", async () => {
    await store.store("two/12345678", bytes("x"));
    await store.move("two/12345678", { delete: true });
    expect(await listNames("two")).toEqual([]);
    expect(await listNames("two", true)).toEqual(["12345678"]);
    expect(await names(backend.list("two/12/34"))).toEqual(["12345678.del"]);
    await expect(store.load("two/12345678")).rejects.toBeInstanceOf(ObjectNotFound);
    expect(text(await store.load("two/12345678", { deleted: true }))).toBe("x");
    await store.move("two/12345678", { undelete: true });
    expect(await listNames("two")).toEqual(["12345678"]);
    expect(await listNames("two", true)).toEqual([]);
  });

  it("moves an item to the namespace's last level with changeLevel", async () => {
    const k = key(0);
    const s = new Store({ backend, config: { "": { levels: [0] } } });
    await s.store(k, bytes("v"));
    await s.setLevels({ "": [0, 1] });
    await s.move(k, { changeLevel: true });
    expect(await names(backend.list("00"))).toEqual([k]);
    expect(text(await s.load(k))).toBe("v");
  });

  it("renames generically within and across namespaces with different nesting", async () => {
    await store.store("zero/12345678", bytes("v"));
    await store.move("zero/12345678", { newName: "zero/abcdef01" });
    expect(await listNames("zero")).toEqual(["abcdef01"]);
    await store.move("zero/abcdef01", { newName: "two/abcdef01" });
    expect(await names(backend.list("two/ab/cd"))).toEqual(["abcdef01"]);
    expect(await listNames("zero")).toEqual([]);
  });

  it("needs newName for a generic move", async () => {
    await store.store("zero/a", bytes("v"));
    await expect(store.move("zero/a")).rejects.toThrow("Generic move requires new_name to be given.");
  });

  it("applies delete over undelete over changeLevel over newName", async () => {
    await store.store("zero/a", bytes("v"));
    await store.move("zero/a", { delete: true, undelete: true, changeLevel: true, newName: "zero/b" });
    expect(await listNames("zero", true)).toEqual(["a"]);
    await store.move("zero/a", { undelete: true, changeLevel: true, newName: "zero/b" });
    expect(await listNames("zero")).toEqual(["a"]);
  });

  it("hard-deletes a soft-deleted item with deleted: true", async () => {
    await store.store("one/abcd", bytes("v"));
    await store.move("one/abcd", { delete: true });
    await store.delete("one/abcd", { deleted: true });
    expect(await listNames("one", true)).toEqual([]);
  });
});

describe("Store levels", () => {
  it("upgrades levels: old items stay found at level 0, new ones go to level 1", async () => {
    const s = new Store({ backend, config: { "": { levels: [0] } } });
    await s.store(key(0), bytes("old"));
    await s.setLevels({ "": [0, 1] }, true);
    expect(text(await s.load(key(0)))).toBe("old");
    await s.store(key(1), bytes("new"));
    expect(await names(backend.list("00"))).toEqual([key(1)]);
    await s.store(key(0), bytes("overwritten"));
    expect((await backend.info(key(0))).exists).toBe(true);
    expect((await backend.info(`00/${key(0)}`)).exists).toBe(false);
    const listed = await names(s.list(""));
    expect(listed.filter((n) => n === key(0))).toHaveLength(1);
    expect(listed.filter((n) => n === key(1))).toHaveLength(1);
  });

  it("downgrades levels: old items stay found at level 1, new ones go to level 0", async () => {
    const s = new Store({ backend, config: { "": { levels: [1] } } });
    await s.store(key(0), bytes("old"));
    await s.setLevels({ "": [1, 0] });
    expect(text(await s.load(key(0)))).toBe("old");
    await s.store(key(1), bytes("new"));
    expect((await backend.info(key(1))).exists).toBe(true);
    await s.store(key(0), bytes("overwritten"));
    expect(text(await backend.load(`00/${key(0)}`))).toBe("overwritten");
    expect((await backend.info(key(0))).exists).toBe(false);
  });

  it("creates namespace and deepest nesting directories up front", async () => {
    const b = new MemoryBackend();
    const s = new Store({ backend: b, config: { "flat/": { levels: [0] }, "deep/": { levels: [0, 1] } } });
    await s.create();
    await s.createLevels(); // opens and closes the backend itself
    expect(b.opened).toBe(false);
    await s.open();
    expect(await names(b.list(""))).toEqual(["deep", "flat"]);
    const dirs = await names(b.list("deep"));
    expect(dirs).toHaveLength(256);
    expect(dirs[0]).toBe("00");
    expect(dirs[255]).toBe("ff");
    await s.close();
  });

  it("rejects negative or non-integer levels", async () => {
    await expect(store.setLevels({ "": [-1] })).rejects.toBeInstanceOf(InvalidArgument);
    await expect(store.setLevels({})).rejects.toBeInstanceOf(InvalidArgument);
  });
});

describe("Store hash and defrag", () => {
  it("hashes with sha256 by default, explicitly, deleted items, and rejects unknown algorithms", async () => {
    const value = bytes("some data");
    const sha = createHash("sha256").update(value).digest("hex");
    await store.store("two/12345678", value);
    expect(await store.hash("two/12345678")).toBe(sha);
    expect(await store.hash("two/12345678", { algorithm: "sha256" })).toBe(sha);
    await store.move("two/12345678", { delete: true });
    expect(await store.hash("two/12345678", { deleted: true })).toBe(sha);
    await expect(store.hash("two/12345678", { algorithm: "invalid_algo" as never })).rejects.toBeInstanceOf(
      UnsupportedHashAlgorithm,
    );
    expect(store.stats.hash_calls).toBe(3);
  });

  it("hashes with blake3", async () => {
    await store.store("zero/x", bytes("hash me"));
    expect(await store.hash("zero/x", { algorithm: "blake3" })).toBe(
      "e02b7e4520e277d4ef287f09c74fec4dd1df095b8b41a4d61dd4ed1589c4a281",
    );
  });

  it("defrags in a nested namespace: explicit target, digest name as plain key, short reads", async () => {
    await store.store("two/12345678", bytes("hello world"));
    await store.store("two/87654321", bytes("abc"));
    const t = await store.defrag([["12345678", 0, 5], ["87654321", 0, 3]], { namespace: "two", target: "aabbccdd" });
    expect(t).toBe("aabbccdd");
    expect(text(await store.load("two/aabbccdd"))).toBe("helloabc");
    expect((await backend.info("two/aa/bb/aabbccdd")).exists).toBe(true);
    const d = await store.defrag([["12345678", 0, 5]], { namespace: "two/", algorithm: "sha256" });
    expect(d).toBe("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    expect((await backend.info(nest(`two/${d}`, 2))).exists).toBe(true);
    const b3 = await store.defrag([["12345678", 0, 5]], { namespace: "two", algorithm: "blake3" });
    expect(text(await store.load(`two/${b3}`))).toBe("hello");
    await expect(store.defrag([["87654321", 0, 20]], { namespace: "two", target: "eeff0011" })).rejects.toThrow(
      /Read range error from .*requested 20 bytes/,
    );
    await expect(store.defrag([["87654321", 0, 20]], { namespace: "two", target: "x" })).rejects.toBeInstanceOf(
      ReadRangeError,
    );
  });
});

describe("Store stats", () => {
  it("counts calls, times in seconds, volumes and backend traffic", async () => {
    expect(store.stats).toMatchObject({
      info_calls: 0,
      load_calls: 0,
      store_calls: 0,
      delete_calls: 0,
      move_calls: 0,
      list_calls: 0,
      hash_calls: 0,
      load_volume: 0,
      store_volume: 0,
      load_throughput: 0,
      store_throughput: 0,
      cache_disabled: false,
      cache_hits: 0,
      cache_misses: 0,
      cache_hit_ratio: 0,
      cache_errors: 0,
      cache_load_calls: 0,
      cache_store_calls: 0,
      cache_delete_calls: 0,
      cache_load_volume: 0,
      cache_store_volume: 0,
    });
    const value = new Uint8Array(50);
    for (const k of [key(0), key(1), key(2), key(3)]) await store.store(`zero/${k}`, value);
    for (const k of [key(0), key(1), key(2)]) await store.load(`zero/${k}`);
    await store.info(`zero/${key(0)}`);
    await collect(store.list("zero"));
    const st = store.stats;
    expect(st).toMatchObject({
      store_calls: 4,
      load_calls: 3,
      info_calls: 1,
      list_calls: 1,
      store_volume: 200,
      load_volume: 150,
      backend_store_calls: 4,
      backend_load_calls: 3,
      backend_store_volume: 200,
      backend_load_volume: 150,
      backend_delete_calls: 0,
    });
    for (const op of ["store", "load", "info", "list"]) {
      expect(st[`${op}_time`]).toBeGreaterThan(0);
      expect(st[`${op}_time`]).toBeLessThan(5); // seconds, not nanoseconds
    }
    expect(st.store_throughput).toBeCloseTo(200 / (st.store_time as number));
  });

  it("does not count failed calls", async () => {
    await expect(store.load("zero/missing")).rejects.toBeInstanceOf(ObjectNotFound);
    expect(store.stats.load_calls).toBe(0);
  });
});

describe("Store configuration", () => {
  const cache = new MemoryBackend();
  const bad: Array<[string, unknown]> = [
    ["a non-object config", "nope"],
    ["an empty config", {}],
    ["a non-object namespace config", { "": [0] }],
    ["missing levels", { "": { cache: "off" } }],
    ["empty levels", { "": { levels: [] } }],
    ["an unknown key", { "": { levels: [0], colour: "red" } }],
    ["an unknown cache mode", { "": { levels: [0], cache: "on" } }],
    ["a negative max_age", { "": { levels: [0], cache: "writethrough", max_age: -1 } }],
    ["a string max_age", { "": { levels: [0], cache: "writethrough", maxAge: "1" } }],
    ["a negative size", { "": { levels: [0], cache: "writethrough", size: -1 } }],
    ["a float size", { "": { levels: [0], cache: "writethrough", size: 1.5 } }],
    ["a string size", { "": { levels: [0], cache: "writethrough", size: "1" } }],
    ["both maxAge and max_age", { "": { levels: [0], cache: "writethrough", maxAge: 1, max_age: 1 } }],
  ];
  it.each(bad)("rejects %s with InvalidArgument", (_what, config) => {
    expect(() => new Store({ backend, cacheBackend: cache, config: config as never })).toThrow(InvalidArgument);
  });

  it("accepts cache modes case-insensitively, with max_age or maxAge and size", () => {
    const s = new Store({
      backend,
      cacheBackend: cache,
      config: {
        "a/": { levels: [0], cache: "WriteThrough" as CacheMode, // any case works at run time (configs come from files)
        max_age: 1.5, size: 100 },
        "b/": { levels: [0], cache: "mirror", maxAge: 0 },
        "c/": { levels: [0], cache: "off" },
      },
    });
    expect(s.policies.map((p) => [p.namespace, p.cache, p.maxAge, p.size])).toEqual([
      ["a/", "writethrough", 1.5, 100],
      ["b/", "mirror", 0, undefined],
      ["c/", "off", undefined, undefined],
    ]);
  });

  it("needs a cache backend for a cached namespace, and only one of cacheUrl and cacheBackend", () => {
    expect(() => new Store({ backend, config: { "": { levels: [0], cache: "mirror" } } })).toThrow(InvalidArgument);
    expect(() => new Store({ backend, config: { "": { levels: [0], cache: "off" } } })).not.toThrow();
    expect(
      () => new Store({ backend, cacheUrl: "memory:", cacheBackend: cache, config: { "": { levels: [0] } } }),
    ).toThrow(InvalidArgument);
  });

  it("matches the longest namespace prefix first", async () => {
    const s = new Store({ backend, config: { "": { levels: [0] }, "data/": { levels: [1] }, "data/x": { levels: [2] } } });
    expect(await s.find("data/xy345678")).toBe("data/xy/34/xy345678");
    expect(await s.find("data/ab34")).toBe("data/ab/ab34");
    expect(await s.find("other")).toBe("other");
  });
});
