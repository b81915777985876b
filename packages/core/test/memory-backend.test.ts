import { createHash } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import {
  BackendAlreadyExists,
  BackendDoesNotExist,
  BackendError,
  BackendMustBeOpen,
  BackendMustNotBeOpen,
  InvalidName,
  MemoryBackend,
  ObjectNotFound,
  ReadRangeError,
  UnsupportedHashAlgorithm,
  collectBytes,
} from "../src/index.js";
import { bytes, collect, key, names, text } from "./helpers.js";

let be: MemoryBackend;

beforeEach(async () => {
  be = new MemoryBackend();
  await be.create();
  await be.open();
});

describe("MemoryBackend lifecycle (as posixfs)", () => {
  it("declares honest capabilities", () => {
    expect(be.capabilities).toEqual({ atime: true, quota: false, directories: true, streaming: false, serverSideHash: [] });
    expect(be.precreateDirs).toBe(false);
  });

  it("fails create on a non-empty store with BackendAlreadyExists, accepts an existing empty one", async () => {
    await be.store("x", bytes("1"));
    await be.close();
    await expect(be.create()).rejects.toBeInstanceOf(BackendAlreadyExists);
    await be.destroy();
    await be.create();
    await be.create(); // empty: accepted, like an existing empty base directory
  });

  it("fails a second destroy with BackendDoesNotExist and can be re-created", async () => {
    await be.close();
    await be.destroy();
    await expect(be.destroy()).rejects.toBeInstanceOf(BackendDoesNotExist);
    await expect(be.open()).rejects.toBeInstanceOf(BackendDoesNotExist);
    await be.create();
    await be.open();
    expect(await names(be.list(""))).toEqual([]);
  });

  it("requires open for every operation", async () => {
    await be.close();
    const ops: Array<() => Promise<unknown>> = [
      () => collect(be.list("")),
      () => be.mkdir("d"),
      () => be.rmdir("d"),
      () => be.store("x", bytes("1")),
      () => be.load("x"),
      () => be.info("x"),
      () => be.move("x", "y"),
      () => be.delete("x"),
      () => be.hash("x"),
      () => be.close(),
    ];
    for (const op of ops) await expect(op()).rejects.toBeInstanceOf(BackendMustBeOpen);
  });

  it("refuses open/create/destroy while open", async () => {
    await expect(be.open()).rejects.toBeInstanceOf(BackendMustNotBeOpen);
    await expect(be.create()).rejects.toBeInstanceOf(BackendMustNotBeOpen);
    await expect(be.destroy()).rejects.toBeInstanceOf(BackendMustNotBeOpen);
  });

  it("keeps a named store across close, reopen and new instances", async () => {
    MemoryBackend.forget("mem-named");
    const a = new MemoryBackend({ name: "mem-named" });
    await a.create();
    await a.open();
    await a.store("ns/k", bytes("v"));
    await a.close();
    await a.open();
    expect(text(await a.load("ns/k"))).toBe("v");
    await a.close();
    const b = new MemoryBackend({ name: "mem-named" });
    await expect(b.create()).rejects.toBeInstanceOf(BackendAlreadyExists);
    await b.open();
    expect(text(await b.load("ns/k"))).toBe("v");
    await b.close();
    await b.destroy();
    await expect(a.open()).rejects.toBeInstanceOf(BackendDoesNotExist);
  });
});

describe("MemoryBackend items", () => {
  it("stores, loads, lists, moves and deletes at the root", async () => {
    expect(await names(be.list(""))).toEqual([]);
    await be.store(key(1), bytes("one"));
    await be.store(key(0), bytes("zero"));
    expect(await be.info(key(1))).toMatchObject({ name: key(1), exists: true, size: 3, directory: false });
    expect(text(await be.load(key(0)))).toBe("zero");
    expect(await names(be.list(""))).toEqual([key(0), key(1)]);
    await be.move(key(1), key(2));
    expect(await names(be.list(""))).toEqual([key(0), key(2)]);
    await be.delete(key(0));
    expect(await be.info(key(0))).toEqual({ name: key(0), exists: false, size: 0, directory: false, atime: 0 });
    await expect(be.load(key(0))).rejects.toBeInstanceOf(ObjectNotFound);
    await expect(be.delete(key(0))).rejects.toBeInstanceOf(ObjectNotFound);
    await expect(be.move(key(0), key(3))).rejects.toBeInstanceOf(ObjectNotFound);
  });

  it("keeps namespaces apart and reports namespace directories", async () => {
    await be.mkdir("data");
    await be.mkdir("meta");
    await be.store("data/a", bytes("data a"));
    await be.store("meta/a", bytes("meta a"));
    expect(text(await be.load("data/a"))).toBe("data a");
    expect(text(await be.load("meta/a"))).toBe("meta a");
    expect(await be.info("data")).toMatchObject({ name: "data", exists: true, directory: true });
    expect(await be.info("")).toMatchObject({ exists: true, directory: true });
    expect(await names(be.list(""))).toEqual(["data", "meta"]);
    await be.move("data/a", "data/b");
    expect(await names(be.list("data"))).toEqual(["b"]);
    await expect(be.load("data/zz")).rejects.toBeInstanceOf(ObjectNotFound);
    await expect(be.load("nons/zz")).rejects.toBeInstanceOf(ObjectNotFound);
    await be.delete("data/b");
    await be.delete("meta/a");
    await be.rmdir("data");
    await be.rmdir("meta");
    expect(await names(be.list(""))).toEqual([]);
  });

  it("lists entries with sizes, kinds and atimes in seconds, sorted", async () => {
    const before = Date.now() / 1000;
    await be.store("b", bytes("12345"));
    await be.store("a", bytes("1"));
    await be.mkdir("c");
    const items = await collect(be.list(""));
    expect(items.map((i) => [i.name, i.exists, i.directory, i.size])).toEqual([
      ["a", true, false, 1],
      ["b", true, false, 5],
      ["c", true, true, 0],
    ]);
    for (const item of items) {
      expect(item.atime).toBeGreaterThanOrEqual(before - 1);
      expect(item.atime).toBeLessThan(Date.now() / 1000 + 1);
    }
    expect(await names(be.list("c"))).toEqual([]);
    await expect(collect(be.list("missing"))).rejects.toBeInstanceOf(ObjectNotFound);
  });

  it("updates atime when an item is loaded", async () => {
    await be.store("a", bytes("1"));
    const first = (await be.info("a")).atime;
    await new Promise((r) => setTimeout(r, 20));
    await be.load("a");
    expect((await be.info("a")).atime).toBeGreaterThan(first);
  });

  it("rejects invalid names, including path traversal", async () => {
    for (const name of ["/etc/passwd", "../etc/passwd", "foo/../etc/passwd", "A", "x.tmp", "x.hid", "a b", "a/"]) {
      await expect(be.info(name)).rejects.toBeInstanceOf(InvalidName);
      await expect(be.store(name, bytes("x"))).rejects.toBeInstanceOf(InvalidName);
    }
  });

  it("skips entries with invalid names in list", async () => {
    // The primitives take names unchecked, as a file put there by hand would be.
    class Raw extends MemoryBackend {
      raw(name: string, value: Uint8Array) {
        return this._store(name, value);
      }
    }
    const raw = new Raw();
    await raw.create();
    await raw.open();
    await raw.store("ok", bytes("1"));
    for (const bad of ["UPPER", "x.tmp", "quota.hid", "a b", "x".repeat(101)]) await raw.raw(bad, bytes("2"));
    await raw.store("ok.del", bytes("3"));
    expect(await names(raw.list(""))).toEqual(["ok", "ok.del"]);
  });

  it("creates missing parent directories on store and move", async () => {
    await be.store("data/00/00/00000000", bytes("x"));
    expect(await be.info("data/00")).toMatchObject({ exists: true, directory: true });
    await be.move("data/00/00/00000000", "data/11/22/00000000");
    expect(text(await be.load("data/11/22/00000000"))).toBe("x");
    expect(await names(be.list("data"))).toEqual(["00", "11"]);
  });

  it("overwrites the target of a move", async () => {
    await be.store("a", bytes("new"));
    await be.store("b", bytes("old"));
    await be.move("a", "b");
    expect(text(await be.load("b"))).toBe("new");
    expect((await be.info("a")).exists).toBe(false);
  });

  it("makes directories recursively and removes only empty ones", async () => {
    await be.mkdir("a/b/c");
    await be.mkdir("a/b/c"); // exist-ok
    expect(await be.info("a/b")).toMatchObject({ directory: true });
    await expect(be.rmdir("a")).rejects.toBeInstanceOf(BackendError);
    await expect(be.rmdir("nope")).rejects.toBeInstanceOf(ObjectNotFound);
    await be.rmdir("a/b/c");
    await be.rmdir("a/b");
    await be.rmdir("a");
    expect(await names(be.list(""))).toEqual([]);
  });

  it("copies stored values: mutating the caller's buffer later changes nothing", async () => {
    const buf = bytes("abcd");
    await be.store("a", buf);
    buf[0] = 0x7a;
    expect(text(await be.load("a"))).toBe("abcd");
    const loaded = await be.load("a");
    loaded[1] = 0x7a;
    expect(text(await be.load("a"))).toBe("abcd");
  });

  it("stores typed-array views as their raw bytes, and empty values", async () => {
    const words = new Uint32Array([1, 2, 3, 4]);
    await be.store("w", words);
    expect((await be.info("w")).size).toBe(16);
    await be.store("view", new Uint8Array(bytes("0123456789").buffer, 2, 3));
    expect(text(await be.load("view"))).toBe("234");
    await be.store("empty", new Uint8Array(0));
    expect((await be.load("empty")).byteLength).toBe(0);
  });

  it("loads partial ranges, negative offsets counting from the end", async () => {
    const data = bytes("0123456789");
    await be.store("r", data);
    const load = async (offset?: number, size?: number) => text(await be.load("r", { offset, size }));
    expect(await load(0, 3)).toBe("012");
    expect(await load(5)).toBe("56789");
    expect(await load(2, 3)).toBe("234");
    expect(await load(-3)).toBe("789");
    expect(await load(-4, 2)).toBe("67");
    expect(await load(-10, 9)).toBe("012345678");
    expect(await load(-10, 1)).toBe("0");
    expect(await load(8, 10)).toBe("89");
    expect(await load(20)).toBe("");
  });

  it("round-trips every byte value and a range of sizes", async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    await be.store("all", all);
    expect([...(await be.load("all"))]).toEqual([...all]);
    for (const size of [1, 10, 1000, 100_000, 10_000_000]) {
      const value = new Uint8Array(size).fill(size % 251);
      await be.store(`s${size}`, value);
      const back = await be.load(`s${size}`);
      expect(back.byteLength).toBe(size);
      expect(back[size - 1]).toBe(size % 251);
    }
  });

  it("streams loads and stores through core's adapters", async () => {
    await be.storeStream("s", (async function* () {
      yield bytes("ab");
      yield bytes("cd");
    })(), { size: 4 });
    expect(text(await collectBytes(await be.loadStream("s", { offset: 1 })))).toBe("bcd");
  });

  it("hashes in core, with sha256 by default and blake3", async () => {
    const value = new Uint8Array(2 * 1024 * 1024).fill(7);
    await be.store("h", value);
    expect(await be.hash("h")).toBe(createHash("sha256").update(value).digest("hex"));
    expect(await be.hash("h", "sha512")).toBe(createHash("sha512").update(value).digest("hex"));
    await be.store("hm", bytes("hash me"));
    expect(await be.hash("hm", "blake3")).toBe("e02b7e4520e277d4ef287f09c74fec4dd1df095b8b41a4d61dd4ed1589c4a281");
    await expect(be.hash("h", "invalid_algo" as never)).rejects.toBeInstanceOf(UnsupportedHashAlgorithm);
    await expect(be.hash("missing")).rejects.toBeInstanceOf(ObjectNotFound);
  });

  it("defrags ranges of existing items into a new one", async () => {
    await be.store("ns/a", bytes("hello world"));
    await be.store("ns/b", bytes("xyz"));
    expect(await be.defrag([["ns/a", 0, 5], ["ns/b", 1, 2]], { target: "ns/t" })).toBe("ns/t");
    expect(text(await be.load("ns/t"))).toBe("helloyz");
    const name = await be.defrag([["ns/a", 0, 5]], { algorithm: "sha256", namespace: "ns", levels: 2 });
    expect(name).toBe("ns/2c/f2/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    await expect(be.defrag([["ns/b", 0, 20]], { target: "ns/u" })).rejects.toThrow(ReadRangeError);
  });
});
