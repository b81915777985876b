import { GUARANTEED_ALGORITHMS, digest } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, randomBytes, sha256 } from "../helpers.js";

const SHA256_HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
const SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** Official vector, also in the reference's tests. */
const BLAKE3_HASH_ME = "e02b7e4520e277d4ef287f09c74fec4dd1df095b8b41a4d61dd4ed1589c4a281";
/** XXH64 with seed 0 of the empty input. */
const XXH64_EMPTY = "ef46db3751d8e999";

export function registerHashTests(suite: Suite): void {
  suite.topic("hash", () => {
    suite.test("sha256 is the default and matches an explicit sha256", async ({ backend }) => {
      await backend.store("key", bytesOf("hello"));
      expect(await backend.hash("key")).toBe(SHA256_HELLO);
      expect(await backend.hash("key", "sha256")).toBe(SHA256_HELLO);
    });

    suite.test("sha256 of a 2 MiB object and of an empty object", async ({ backend }) => {
      const value = randomBytes(2 * 1024 * 1024);
      await backend.store("big", value);
      expect(await backend.hash("big")).toBe(sha256(value));
      await backend.store("empty", new Uint8Array(0));
      expect(await backend.hash("empty")).toBe(SHA256_EMPTY);
    });

    suite.test("an unsupported algorithm fails with UNSUPPORTED_HASH_ALGORITHM before any I/O", async ({ backend }) => {
      await backend.store("key", bytesOf("hello"));
      for (const algorithm of ["invalid_algo", ""])
        await expectCode(backend.hash("key", algorithm as never), "UNSUPPORTED_HASH_ALGORITHM", "Unsupported hash algorithm");
      await expectCode(backend.hash("missing", "invalid_algo" as never), "UNSUPPORTED_HASH_ALGORITHM", "Unsupported hash algorithm: invalid_algo");
    });

    suite.test("hash of a missing object fails with OBJECT_NOT_FOUND", async ({ backend }) => {
      await expectCode(backend.hash("missing"), "OBJECT_NOT_FOUND");
      await expectCode(backend.hash("ns/missing", "blake3"), "OBJECT_NOT_FOUND");
    });

    suite.test(
      "hash on a closed backend fails with BACKEND_MUST_BE_OPEN",
      async ({ backend }) => {
        await expectCode(backend.hash("key"), "BACKEND_MUST_BE_OPEN");
      },
      { stage: "created" },
    );

    suite.test("blake3 of a small and a 2 MiB object", async ({ backend }) => {
      await backend.store("key", bytesOf("hash me"));
      expect(await backend.hash("key", "blake3")).toBe(BLAKE3_HASH_ME);
      const value = randomBytes(2 * 1024 * 1024);
      await backend.store("big", value);
      expect(await backend.hash("big", "blake3")).toBe(await digest("blake3", value));
    });

    suite.test("xxh64 of an empty and a 2 MiB object", async ({ backend }) => {
      await backend.store("empty", new Uint8Array(0));
      expect(await backend.hash("empty", "xxh64")).toBe(XXH64_EMPTY);
      const value = randomBytes(2 * 1024 * 1024);
      await backend.store("big", value);
      expect(await backend.hash("big", "xxh64")).toBe(await digest("xxh64", value));
    });

    suite.test("every algorithm Python's hashlib guarantees, spelled as Python spells it", async ({ backend }) => {
      const value = randomBytes(100_000);
      await backend.store("key", value);
      for (const algorithm of GUARANTEED_ALGORITHMS)
        expect(await backend.hash("key", algorithm), algorithm).toBe(await digest(algorithm, value));
    });

    suite.test("the hash follows an overwrite", async ({ backend }) => {
      await backend.store("key", bytesOf("first"));
      await backend.hash("key");
      await backend.store("key", bytesOf("hello"));
      expect(await backend.hash("key")).toBe(SHA256_HELLO);
    });
  });
}
