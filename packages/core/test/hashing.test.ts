import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  GUARANTEED_ALGORITHMS,
  InvalidArgument,
  UnsupportedHashAlgorithm,
  bytesSource,
  checkHashAlgorithm,
  createHasher,
  digest,
  streamDigest,
  supportedHashAlgorithms,
} from "../src/index.js";
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
