import { describe, expect, it } from "vitest";
import {
  BackendError,
  type ByteSource,
  type LoadOptions,
  MemoryBackend,
  type SizedByteSource,
  collectBytes,
} from "../src/index.js";
import { sizedBytes, sizedSource } from "../src/backend-kit/index.js";

async function* chunks(...sizes: number[]): ByteSource {
  for (const size of sizes) yield new Uint8Array(size).fill(7);
}

describe("sizedSource", () => {
  it("delivers a source of exactly its announced size unchanged", async () => {
    const source = sizedSource(chunks(3, 4), 7);
    expect(source.size).toBe(7);
    expect((await collectBytes(source)).byteLength).toBe(7);
  });

  it("throws when the bytes end before the announced size, instead of ending quietly", async () => {
    await expect(collectBytes(sizedSource(chunks(3, 2), 7))).rejects.toThrow(BackendError);
  });

  it("throws before handing out a chunk that runs past the announced size", async () => {
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const chunk of sizedSource(chunks(4, 4), 7)) got.push(chunk.byteLength);
      })(),
    ).rejects.toThrow(/more than its 7 bytes/);
    expect(got).toEqual([4]);
  });

  it("closes the underlying source when closed before the first chunk", async () => {
    let closed = false;
    const inner = (async function* () {
      try {
        yield new Uint8Array(1);
      } finally {
        closed = true;
      }
    })();
    await inner.next(); // started, so its finally runs on return()
    await sizedSource(inner, 2)[Symbol.asyncIterator]().return?.();
    expect(closed).toBe(true);
  });

  it("refuses a size that is not a non-negative integer", () => {
    expect(() => sizedSource(chunks(), -1)).toThrow(/non-negative integer/);
  });

  it("carries the whole value's total when given one, and refuses a total smaller than its size", () => {
    expect(sizedSource(chunks(3), 3, 10).total).toBe(10);
    expect(sizedSource(chunks(3), 3).total).toBeUndefined();
    expect(() => sizedSource(chunks(3), 3, 2)).toThrow(/total/);
  });
});

/** A backend whose stream tells the whole value's length, as posixfs does from fstat. */
class TotalTellingBackend extends MemoryBackend {
  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const whole = await this._load(name, {});
    return sizedBytes(await this._load(name, options), whole.byteLength);
  }
}

/** A backend whose stream announces one size and delivers fewer bytes (a file cut under it). */
class ShortStreamBackend extends MemoryBackend {
  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const bytes = await this._load(name, options);
    return sizedSource(sizedBytes(bytes.subarray(0, bytes.byteLength - 1)), bytes.byteLength);
  }
}

/** A backend written before streams carried their size. */
class UnsizedStreamBackend extends MemoryBackend {
  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    return chunks((await this._load(name, options)).byteLength) as unknown as SizedByteSource;
  }
}

describe("Backend.loadStream's size", () => {
  it("fails a stream that ends before its announced size, and hash() over it too", async () => {
    const backend = new ShortStreamBackend();
    await backend.create();
    await backend.open();
    await backend.store("x", new Uint8Array(10));
    const source = await backend.loadStream("x");
    expect(source.size).toBe(10);
    await expect(collectBytes(source)).rejects.toThrow(BackendError);
    await expect(backend.hash("x")).rejects.toThrow(BackendError);
  });

  it("sizes the stream of a backend whose _loadStream gives no size by the bytes it delivered", async () => {
    const backend = new UnsizedStreamBackend();
    await backend.create();
    await backend.open();
    await backend.store("x", new Uint8Array(10));
    const source = await backend.loadStream("x");
    expect(source.size).toBe(10);
    expect((await collectBytes(source)).byteLength).toBe(10);
  });

  it("keeps the backend's total through core's checks and an abort signal", async () => {
    const backend = new TotalTellingBackend();
    await backend.create();
    await backend.open();
    await backend.store("x", new Uint8Array(100));
    expect((await backend.loadStream("x", { offset: -30, size: 10 })).total).toBe(100);
    const signal = new AbortController().signal;
    const source = await backend.loadStream("x", { offset: 5, size: 10, signal });
    expect([source.size, source.total]).toEqual([10, 100]);
    expect((await collectBytes(source)).byteLength).toBe(10);
  });

  it("is the loaded slice's length for the default (whole-load) stream", async () => {
    const backend = new MemoryBackend();
    await backend.create();
    await backend.open();
    await backend.store("x", new Uint8Array(100));
    expect((await backend.loadStream("x", { offset: -30, size: 10 })).size).toBe(10);
    expect((await backend.loadStream("x", { offset: 95 })).size).toBe(5);
  });
});
