import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ByteSource,
  type DefragSource,
  ErrorCodes,
  type LoadOptions,
  MemoryBackend,
  type SizedByteSource,
  isBorgStoreError,
} from "../src/index.js";
import { resolveRange, sizedSource } from "../src/backend-kit/index.js";
import { bytes, opened, text } from "./helpers.js";

/**
 * The memory backend with native streaming: loads come in small chunks, and stores consume their
 * source chunk by chunk, recording the largest chunk they were handed (a defrag that concatenates
 * in memory hands over one chunk of the whole result).
 */
class ChunkedMemoryBackend extends MemoryBackend {
  largestStoredChunk = 0;
  streamedStores = 0;
  loadStreams = 0;
  /** Called when a stream is opened, with how many were opened before (to change data between passes). */
  onLoadStream?: (opened: number) => Promise<void>;

  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    await this.onLoadStream?.(this.loadStreams);
    this.loadStreams++;
    const value = await this._load(name, options);
    const chunks = (async function* () {
      for (let at = 0; at < value.byteLength; at += 1000) yield value.subarray(at, at + 1000);
    })();
    return sizedSource(chunks, value.byteLength);
  }

  protected override async _storeStream(name: string, source: ByteSource): Promise<void> {
    this.streamedStores++;
    const chunks: Uint8Array[] = [];
    for await (const chunk of source) {
      this.largestStoredChunk = Math.max(this.largestStoredChunk, chunk.byteLength);
      chunks.push(chunk);
    }
    await this._store(name, Buffer.concat(chunks));
  }
}

describe("Backend.defrag streams its ranges", () => {
  it("hands the ranges to storeStream chunk by chunk, never the whole result at once", async () => {
    const be = await opened(new ChunkedMemoryBackend());
    await be.store("a", new Uint8Array(50_000).fill(1));
    await be.store("b", new Uint8Array(50_000).fill(2));
    expect(await be.defrag([["a", 0, 50_000], ["b", 100, 40_000]], { target: "t" })).toBe("t");
    expect((await be.info("t")).size).toBe(90_000);
    expect(be.streamedStores).toBe(1);
    expect(be.largestStoredChunk).toBeLessThanOrEqual(1000);
    const name = await be.defrag([["a", 0, 50_000], ["b", 0, 50_000]], { algorithm: "sha256" });
    expect((await be.load(name)).byteLength).toBe(100_000);
    expect(be.streamedStores).toBe(2);
    expect(be.largestStoredChunk).toBeLessThanOrEqual(1000);
  });

  it("refuses to store under a digest name when a source changed between the hashing pass and the store", async () => {
    const be = await opened(new ChunkedMemoryBackend());
    await be.store("a", bytes("original"));
    be.onLoadStream = async (before) => {
      if (before === 1) await be.store("a", bytes("replaced"));
    };
    const failure = await be.defrag([["a", 0, 8]], { algorithm: "sha256" }).catch((err: unknown) => err);
    expect(isBorgStoreError(failure, ErrorCodes.CONTENT_HASH_MISMATCH)).toBe(true);
    expect(be.loadStreams).toBe(2);
    const listed: string[] = [];
    for await (const item of be.list("")) listed.push(item.name);
    expect(listed).toEqual(["a"]);
  });

  it("a short range in the middle fails with READ_RANGE_ERROR and stores nothing, with and without a target", async () => {
    const be = await opened(new ChunkedMemoryBackend());
    await be.store("a", new Uint8Array(5000));
    for (const options of [{ target: "t" }, { algorithm: "sha256" as const }]) {
      const failure = await be.defrag([["a", 0, 5000], ["a", 4000, 2000], ["a", 0, 10]], options).catch((err: unknown) => err);
      expect(isBorgStoreError(failure, ErrorCodes.READ_RANGE_ERROR)).toBe(true);
      expect((failure as Error).message).toBe("Read range error from a (requested 2000 bytes at offset 4000, got 1000)");
    }
    const listed: string[] = [];
    for await (const item of be.list("")) listed.push(item.name);
    expect(listed).toEqual(["a"]);
  });
});

describe("Backend.defrag on hostile source lists (property)", () => {
  const OBJECTS: Record<string, Uint8Array> = {
    a: bytes("0123456789"),
    b: bytes(""),
    "ns/c": bytes("abcdefghijklmnopqrstuvwxyz"),
  };

  /**
   * What the result must be, as the reference loads source after source: the first source that
   * has a bad name or size, is missing or is short decides the error.
   */
  function expected(sources: readonly DefragSource[]): { value: string } | { code: string } {
    let out = "";
    for (const [name, offset, size] of sources) {
      if (name.startsWith("/") || name.includes("..")) return { code: ErrorCodes.INVALID_NAME };
      if (size < 0) return { code: ErrorCodes.INVALID_ARGUMENT };
      const value = OBJECTS[name];
      if (value === undefined) return { code: ErrorCodes.OBJECT_NOT_FOUND };
      const range = resolveRange({ offset, size }, value.byteLength);
      if (range.end - range.start !== size) return { code: ErrorCodes.READ_RANGE_ERROR };
      out += text(value.subarray(range.start, range.end));
    }
    return { value: out };
  }

  const source = fc.tuple(
    fc.constantFrom("a", "b", "ns/c", "missing", "ns/missing", "/abs", "ns/../a"),
    fc.integer({ min: -40, max: 40 }),
    fc.integer({ min: -2, max: 40 }),
  );

  it("stores exactly the concatenated ranges, or fails with the first bad triple's or range's error and stores nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(source, { maxLength: 6 }), fc.boolean(), async (sources, byDigest) => {
        for (const Kind of [MemoryBackend, ChunkedMemoryBackend]) {
          const be = await opened(new Kind());
          for (const [name, value] of Object.entries(OBJECTS)) await be.store(name, value);
          const want = expected(sources);
          const options = byDigest ? { algorithm: "sha256" as const, namespace: "out" } : { target: "out/t" };
          const got = await be.defrag(sources, options).then(
            async (name) => ({ value: text(await be.load(name)) }),
            (err: unknown) => ({ code: (err as { code?: string }).code ?? String(err) }),
          );
          if ("code" in want) {
            expect(got).toEqual(want);
            expect((await be.info("out")).exists).toBe(false);
          } else {
            expect(got).toEqual(want);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
