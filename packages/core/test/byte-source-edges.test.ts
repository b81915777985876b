import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type ByteSource, ErrorCodes, collectBytes } from "../src/index.js";
import { sizedBytes, sizedSource } from "../src/backend-kit/index.js";
import { bytes, chunksOf, collect, names, opened, text } from "./helpers.js";

/** A source that would go on for ever, counting the chunks it was asked for. */
function endless(pulled: { count: number }): ByteSource {
  return (async function* () {
    for (;;) {
      pulled.count++;
      yield bytes("0123456789");
      if (pulled.count > 1000) throw new Error("read far past the announced size");
    }
  })();
}

/** An iterator without return(), as a hand-written source may be. */
function withoutReturn(parts: string[]): ByteSource {
  let at = 0;
  const iterator = {
    async next(): Promise<IteratorResult<Uint8Array>> {
      return at < parts.length ? { done: false, value: bytes(parts[at++] as string) } : { done: true, value: undefined };
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

describe("storeStream's announced size and sha256", () => {
  it("stores a value that matches both", async () => {
    const backend = await opened();
    await backend.storeStream("x", chunksOf("hello ", "world"), { size: 11, sha256: sha256("hello world") });
    expect(text(await backend.load("x"))).toBe("hello world");
    await backend.storeStream("y", chunksOf("abc"), { sha256: sha256("abc") });
    expect(text(await backend.load("y"))).toBe("abc");
  });

  it("refuses a value whose bytes do not hash to the announced sha256, storing nothing", async () => {
    const backend = await opened();
    for (const options of [{ sha256: sha256("other") }, { size: 3, sha256: sha256("abd") }]) {
      const err = await backend.storeStream("x", chunksOf("a", "bc"), options).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.CONTENT_HASH_MISMATCH });
    }
    expect(await names(backend.list(""))).toEqual([]);
  });

  it("refuses a value shorter than announced, storing nothing", async () => {
    const backend = await opened();
    const err = await backend.storeStream("x", chunksOf("ab", "c"), { size: 5 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.CONTENT_LENGTH_MISMATCH, message: "received 3 of the announced 5 bytes" });
    expect(await names(backend.list(""))).toEqual([]);
  });

  it("stops reading a source as soon as it runs past the announced size", async () => {
    const backend = await opened();
    const pulled = { count: 0 };
    const err = await backend.storeStream("x", endless(pulled), { size: 25 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.CONTENT_LENGTH_MISMATCH, message: "received more than the announced 25 bytes" });
    expect(pulled.count).toBe(3);
    expect(await names(backend.list(""))).toEqual([]);
  });
});

describe("store() accepts every kind of bytes, and nothing else", () => {
  it("stores typed arrays, DataViews, ArrayBuffers and SharedArrayBuffers as their raw bytes", async () => {
    const backend = await opened();
    const buffer = new Uint8Array([1, 2, 3, 4, 5, 6]).buffer;
    const shared = new SharedArrayBuffer(3);
    new Uint8Array(shared).set([7, 8, 9]);
    const values: Array<[string, ArrayBufferView | ArrayBuffer, number[]]> = [
      ["u8", new Uint8Array([1, 2, 3]), [1, 2, 3]],
      ["u8-view", new Uint8Array(buffer, 2, 3), [3, 4, 5]],
      ["i16", new Int16Array([0x0201, 0x0403]), [1, 2, 3, 4]],
      ["dataview", new DataView(buffer, 1, 2), [2, 3]],
      ["arraybuffer", buffer, [1, 2, 3, 4, 5, 6]],
      // Not in StorableValue's type, but accepted at run time (a caller in plain JavaScript).
      ["shared", shared as unknown as ArrayBuffer, [7, 8, 9]],
      ["buffer", Buffer.from([9, 8]), [9, 8]],
    ];
    for (const [name, value] of values) await backend.store(name, value);
    for (const [name, , expected] of values) {
      const loaded = await backend.load(name);
      expect(loaded).toBeInstanceOf(Uint8Array);
      expect([...loaded]).toEqual(expected);
    }
  });

  it("refuses a string, a number or a plain object with InvalidArgument naming its type", async () => {
    const backend = await opened();
    for (const [value, type] of [
      ["text", "string"],
      [42, "number"],
      [{ length: 3 }, "object"],
    ] as const) {
      const err = await backend.store("x", value as unknown as Uint8Array).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      expect((err as Error).message).toBe(`value must be bytes (a typed array, DataView or ArrayBuffer), but got: ${type}`);
    }
    expect(await names(backend.list(""))).toEqual([]);
  });
});

describe("sized sources", () => {
  it("streams an empty value as no chunks at all", async () => {
    const backend = await opened();
    await backend.store("empty", new Uint8Array(0));
    const stream = await backend.loadStream("empty");
    expect(stream.size).toBe(0);
    expect(await collect(stream)).toEqual([]);
    expect(await collect(sizedBytes(new Uint8Array(0)))).toEqual([]);
  });

  it("accepts a total equal to its size (the whole value)", () => {
    expect(sizedSource(chunksOf("abc"), 3, 3).total).toBe(3);
  });

  it("says how many bytes arrived when a stream ends early", async () => {
    const err = await collect(sizedSource(chunksOf("ab"), 5)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.BACKEND_ERROR, message: "the stream ended after 2 of its 5 bytes" });
  });

  it("works on a source whose iterator has no return(): an overrun is still BackendError, closing ends it", async () => {
    const over = await collect(sizedSource(withoutReturn(["abc", "def"]), 4)).catch((e: unknown) => e);
    expect(over).toMatchObject({ code: ErrorCodes.BACKEND_ERROR, message: "the stream delivered more than its 4 bytes" });
    const iterator = sizedSource(withoutReturn(["abc"]), 3)[Symbol.asyncIterator]();
    expect(await iterator.return?.()).toEqual({ done: true, value: undefined });
  });

  it("collectBytes joins chunks in order, and gives an empty array for no chunks", async () => {
    expect(text(await collectBytes(chunksOf("ab", "", "cde", "f")))).toBe("abcdef");
    expect(await collectBytes(chunksOf())).toEqual(new Uint8Array(0));
  });
});
