import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  GUARANTEED_ALGORITHMS,
  InvalidArgument,
  UnsupportedHashAlgorithm,
  bytesSource,
  createHasher,
  digest,
  streamDigest,
  supportedHashAlgorithms,
} from "../src/index.js";
import { checkHashAlgorithm } from "../src/hashing.js";
import { XXH64_ONE_SHOT_LIMIT } from "../src/wasm-hashers.js";
import { bytes } from "./helpers.js";

async function* chunked(data: Uint8Array, size: number) {
  for (let i = 0; i < data.byteLength; i += size) yield data.subarray(i, i + size);
}

const BIG = Uint8Array.from({ length: 256_000 }, (_, i) => i % 256);

// Computed with the xxHash C library 0.8.1 (Debian libxxhash0) through ctypes: a second implementation.
const XXH_VECTORS: Array<[string, Uint8Array, string, string, string]> = [
  ["empty", new Uint8Array(0), "ef46db3751d8e999", "2d06800538d394c2", "99aa06d3014798d86001c324468d497f"],
  ["'a'", bytes("a"), "d24ec4f1a98c6e5b", "e6c632b61e964e1f", "a96faf705af16834e6c632b61e964e1f"],
  ["'hash me'", bytes("hash me"), "d1020942fae7bcb5", "ae99e660a9f0f03d", "1d0fb377dda0fcb413e280c33ffe7a09"],
  ["bytes 0..255 ×1000", BIG, "ea8a95f52bcdb693", "776474c39d20f9aa", "548512d98989de2d776474c39d20f9aa"],
];

const MiB = 1024 * 1024;
const pattern = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 7 + 3) % 256);

// The same library, at the sizes where xxh64 switches from xxhash-wasm's one-shot h64Raw to its
// streaming create64 (XXH64_ONE_SHOT_LIMIT), bytes (i·7+3) mod 256.
const XXH_BOUNDARY_VECTORS: Array<[number, string, string, string]> = [
  [0, "ef46db3751d8e999", "2d06800538d394c2", "99aa06d3014798d86001c324468d497f"],
  [1024, "e6816a6e134b7a33", "9b81661c641c72b1", "18bc0eaca9a336369b81661c641c72b1"],
  [MiB - 1, "d59fa1f75da8cd10", "37aa13e03b0951eb", "d5ec526135cd7f1437aa13e03b0951eb"],
  [MiB, "989560ce899d661b", "74823cf2cd45b0fe", "6b909c52253d6e1b74823cf2cd45b0fe"],
  [MiB + 1, "1a6c95bba854aa22", "c2b5ee5eaed7f47e", "d3745b4f82b965ddc2b5ee5eaed7f47e"],
  [2 * MiB + 5, "215de1cad2248721", "48c73bbb703cb417", "8c037def2b70512e48c73bbb703cb417"],
];

async function* chunksOf(...chunks: Uint8Array[]) {
  yield* chunks;
}

describe("hashing", () => {
  it("matches node:crypto for sha256, incrementally too", async () => {
    const h = await createHasher("sha256");
    h.update(bytes("hello "));
    h.update(bytes("world"));
    expect(h.hexdigest()).toBe(createHash("sha256").update("hello world").digest("hex"));
  });

  it.each(GUARANTEED_ALGORITHMS)("computes %s as Python's hashlib spells it", async (algorithm) => {
    const openssl: Record<string, string> = {
      blake2b: "blake2b512",
      blake2s: "blake2s256",
      sha3_224: "sha3-224",
      sha3_256: "sha3-256",
      sha3_384: "sha3-384",
      sha3_512: "sha3-512",
    };
    expect(await digest(algorithm, BIG)).toBe(createHash(openssl[algorithm] ?? algorithm).update(BIG).digest("hex"));
  });

  it("digests a stream chunk by chunk to the same value", async () => {
    expect(await streamDigest("sha256", chunked(BIG, 1000))).toBe(createHash("sha256").update(BIG).digest("hex"));
    expect(await streamDigest("blake3", chunked(BIG, 777))).toBe(await digest("blake3", BIG));
  });

  it("knows the blake3 vector, incrementally and streamed", async () => {
    const vector = "e02b7e4520e277d4ef287f09c74fec4dd1df095b8b41a4d61dd4ed1589c4a281";
    expect(await digest("blake3", bytes("hash me"))).toBe(vector);
    const h = await createHasher("blake3");
    h.update(bytes("hash"));
    h.update(bytes(" me"));
    expect(h.hexdigest()).toBe(vector);
    expect(await streamDigest("blake3", bytesSource(bytes("hash me")))).toBe(vector);
  });

  it.each(XXH_VECTORS)("agrees with the xxHash C library on %s", async (_what, data, xxh64, xxh3, xxh128) => {
    expect(await digest("xxh64", data)).toBe(xxh64);
    expect(await digest("xxh3", data)).toBe(xxh3);
    expect(await digest("xxh128", data)).toBe(xxh128);
    expect(await streamDigest("xxh64", chunked(data, 1001))).toBe(xxh64);
    expect(await streamDigest("xxh3", chunked(data, 1001))).toBe(xxh3);
  });

  it("keeps the leading zeros of an xxh64 digest (C library: 'k20' → 004541b87408e056)", async () => {
    expect(await digest("xxh64", bytes("k20"))).toBe("004541b87408e056");
    expect(await streamDigest("xxh64", chunksOf(bytes("k"), bytes("20")))).toBe("004541b87408e056");
  });

  it("switches xxh64 from one-shot to streaming at 1 MiB, the size the vectors straddle", () => {
    expect(XXH64_ONE_SHOT_LIMIT).toBe(MiB);
  });

  it.each(XXH_BOUNDARY_VECTORS)(
    "agrees with the xxHash C library on %i bytes, one-shot, streamed and incremental",
    async (size, xxh64, xxh3, xxh128) => {
      const data = pattern(size);
      const expected: Record<string, string> = { xxh64, xxh3, xxh128 };
      for (const [algorithm, vector] of Object.entries(expected)) {
        expect(await digest(algorithm, data), `${algorithm} one-shot`).toBe(vector);
        expect(await streamDigest(algorithm, chunksOf(data)), `${algorithm} one chunk`).toBe(vector);
        expect(await streamDigest(algorithm, chunked(data, 65_537)), `${algorithm} 65537-byte chunks`).toBe(vector);
        expect(await streamDigest(algorithm, chunksOf(data, new Uint8Array(0))), `${algorithm} then an empty chunk`).toBe(vector);
        const h = await createHasher(algorithm);
        h.update(data.subarray(0, size >> 1));
        h.update(data.subarray(size >> 1));
        expect(h.hexdigest(), `${algorithm} incremental`).toBe(vector);
      }
    },
  );

  it.each(supportedHashAlgorithms())("digests empty input alike whether given as no chunks, one empty chunk or bytes (%s)", async (algorithm) => {
    const expected = await digest(algorithm, new Uint8Array(0));
    expect(await streamDigest(algorithm, chunksOf())).toBe(expected);
    expect(await streamDigest(algorithm, chunksOf(new Uint8Array(0)))).toBe(expected);
    expect(await streamDigest(algorithm, chunksOf(new Uint8Array(0), new Uint8Array(0)))).toBe(expected);
    expect((await createHasher(algorithm)).hexdigest()).toBe(expected);
  });

  it.each(["blake3", "xxh64", "xxh3", "xxh128"])("keeps interleaved %s hashers apart (reused wasm instances)", async (algorithm) => {
    const a = pattern(3000);
    const b = BIG.subarray(0, 5000);
    const [ha, hb] = [await createHasher(algorithm), await createHasher(algorithm)];
    for (let at = 0; at < 5000; at += 500) {
      if (at < a.byteLength) ha.update(a.subarray(at, at + 500));
      hb.update(b.subarray(at, at + 500));
    }
    const [da, db] = [ha.hexdigest(), hb.hexdigest()];
    const hc = await createHasher(algorithm);
    hc.update(b);
    expect(da).toBe(await digest(algorithm, a));
    expect(db).toBe(await digest(algorithm, b));
    expect(hc.hexdigest()).toBe(db);
  });

  it.each(["blake3", "xxh3", "xxh128"])("refuses a %s hasher once its digest was read (its instance may serve another)", async (algorithm) => {
    const h = await createHasher(algorithm);
    h.hexdigest();
    expect(() => h.update(bytes("x"))).toThrow(/after its digest/);
    expect(() => h.hexdigest()).toThrow(/after its digest/);
  });

  it("closes a stream it stops reading because hashing failed", async () => {
    let closed = false;
    async function* source() {
      try {
        yield bytes("a");
        yield bytes("b");
        yield null as unknown as Uint8Array;
        yield bytes("never read");
      } finally {
        closed = true;
      }
    }
    await expect(streamDigest("sha256", source())).rejects.toThrow();
    expect(closed).toBe(true);
  });

  it.each([["invalid_algo"], [""], [null], [42]])("rejects %s with 'Unsupported hash algorithm'", async (algorithm) => {
    expect(() => checkHashAlgorithm(algorithm)).toThrow(UnsupportedHashAlgorithm);
    expect(() => checkHashAlgorithm(algorithm)).toThrow(/^Unsupported hash algorithm: /);
    await expect(createHasher(algorithm as string)).rejects.toThrow("Unsupported hash algorithm");
    await expect(streamDigest(algorithm as string, bytesSource(bytes("x")))).rejects.toThrow(
      "Unsupported hash algorithm",
    );
  });

  it("rejects variable-length digests with InvalidArgument", () => {
    expect(() => checkHashAlgorithm("shake_128")).toThrow(InvalidArgument);
  });

  it("lists every supported name", () => {
    expect(supportedHashAlgorithms()).toEqual(expect.arrayContaining(["sha256", "sha3_256", "blake2b", "blake3", "xxh64", "xxh3"]));
  });
});
