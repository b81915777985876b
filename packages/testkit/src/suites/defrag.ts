import { digest } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, listNames, textOf } from "../helpers.js";

const SHA256_HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

export function registerDefragTests(suite: Suite): void {
  suite.topic("defrag", () => {
    suite.test("concatenates ranges of several sources into the target and keeps the sources", async ({ backend }) => {
      await backend.store("data/a", bytesOf("0123456789"));
      await backend.store("data/b", bytesOf("abcdefghij"));
      const sources = [
        ["data/a", 0, 3],
        ["data/b", 5, 2],
        ["data/a", -2, 2],
      ] as const;
      expect(await backend.defrag(sources, { target: "data/t" })).toBe("data/t");
      expect(textOf(await backend.load("data/t"))).toBe("012fg89");
      expect(textOf(await backend.load("data/a"))).toBe("0123456789");
      expect(await listNames(backend, "data")).toEqual(["a", "b", "t"]);
    });

    suite.test("without a target, the name is the digest of the result, under namespace and levels", async ({ backend }) => {
      await backend.store("src", bytesOf("xxhelloxx"));
      const hello = [["src", 2, 5]] as const;
      expect(await backend.defrag(hello, { algorithm: "sha256" })).toBe(SHA256_HELLO);
      expect(await backend.defrag(hello, { algorithm: "sha256", namespace: "ns" })).toBe(`ns/${SHA256_HELLO}`);
      expect(await backend.defrag(hello, { algorithm: "sha256", namespace: "ns/" })).toBe(`ns/${SHA256_HELLO}`);
      expect(await backend.defrag(hello, { algorithm: "sha256", levels: 1 })).toBe(`2c/${SHA256_HELLO}`);
      const nested = await backend.defrag(hello, { algorithm: "sha256", namespace: "ns", levels: 2 });
      expect(nested).toBe(`ns/2c/f2/${SHA256_HELLO}`);
      expect(textOf(await backend.load(nested))).toBe("hello");
    });

    suite.test("blake3 and xxh64 derive names too", async ({ backend }) => {
      await backend.store("src", bytesOf("hash me"));
      const all = [["src", 0, 7]] as const;
      const blake3 = await digest("blake3", bytesOf("hash me"));
      expect(await backend.defrag(all, { algorithm: "blake3", namespace: "data", levels: 1 })).toBe(
        `data/${blake3.slice(0, 2)}/${blake3}`,
      );
      const xxh64 = await digest("xxh64", bytesOf("hash me"));
      expect(await backend.defrag(all, { algorithm: "xxh64" })).toBe(xxh64);
    });

    suite.test("an explicit target wins over the algorithm", async ({ backend }) => {
      await backend.store("src", bytesOf("hello"));
      expect(await backend.defrag([["src", 0, 5]], { target: "chosen", algorithm: "sha256" })).toBe("chosen");
      expect((await backend.info(SHA256_HELLO)).exists).toBe(false);
    });

    suite.test("an empty source list makes an empty object", async ({ backend }) => {
      expect(await backend.defrag([], { target: "empty" })).toBe("empty");
      expect(await backend.info("empty")).toMatchObject({ exists: true, size: 0 });
      const name = await backend.defrag([], { algorithm: "sha256" });
      expect((await backend.load(name)).byteLength).toBe(0);
    });

    suite.test("a short source fails with READ_RANGE_ERROR and the reference's text", async ({ backend }) => {
      await backend.store("src", bytesOf("0123456789"));
      await expectCode(
        backend.defrag([["src", 5, 20]], { target: "t" }),
        "READ_RANGE_ERROR",
        "Read range error from src (requested 20 bytes at offset 5, got 5)",
      );
      expect((await backend.info("t")).exists).toBe(false);
    });

    suite.test("neither target nor algorithm fails with INVALID_ARGUMENT", async ({ backend }) => {
      await backend.store("src", bytesOf("hello"));
      await expectCode(backend.defrag([["src", 0, 5]]), "INVALID_ARGUMENT", "Either target or algorithm must be given for defrag");
    });

    suite.test("an unsupported algorithm fails with UNSUPPORTED_HASH_ALGORITHM", async ({ backend }) => {
      await backend.store("src", bytesOf("hello"));
      await expectCode(backend.defrag([["src", 0, 5]], { algorithm: "nope" as never }), "UNSUPPORTED_HASH_ALGORITHM", "Unsupported hash algorithm");
    });

    suite.test("a missing source fails with OBJECT_NOT_FOUND and writes nothing", async ({ backend }) => {
      await expectCode(backend.defrag([["missing", 0, 1]], { target: "t" }), "OBJECT_NOT_FOUND");
      expect((await backend.info("t")).exists).toBe(false);
    });

    suite.test("reads the sources in order: a missing first source is OBJECT_NOT_FOUND even when a later name is invalid", async ({ backend }) => {
      await expectCode(backend.defrag([["missing", 0, 1], ["Bad Name", 0, 1]], { target: "t" }), "OBJECT_NOT_FOUND");
      await backend.store("src", bytesOf("hello"));
      await expectCode(backend.defrag([["src", 0, 5], ["Bad Name", 0, 1]], { target: "t" }), "INVALID_NAME");
      expect((await backend.info("t")).exists).toBe(false);
    });

    suite.test("the target may be one of its own sources", async ({ backend }) => {
      await backend.store("obj", bytesOf("0123456789"));
      await backend.defrag([["obj", 6, 4], ["obj", 0, 2]], { target: "obj" });
      expect(textOf(await backend.load("obj"))).toBe("678901");
    });
  });
}
