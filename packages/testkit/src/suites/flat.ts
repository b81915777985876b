import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, key, listNames, textOf } from "../helpers.js";

export function registerFlatTests(suite: Suite): void {
  suite.topic("flat namespace", () => {
    suite.test("a new store lists nothing at the root", async ({ backend }) => {
      expect(await listNames(backend, "")).toEqual([]);
    });

    suite.test("store, info, load, list, delete and move at the root", async ({ backend }) => {
      const [k0, k1, k2, k42] = [key(0), key(1), key(2), key(42)];
      await backend.store(k0, bytesOf("value0"));
      const i0 = await backend.info(k0);
      expect(i0).toMatchObject({ exists: true, size: 6, directory: false });
      expect(textOf(await backend.load(k0))).toBe("value0");
      expect(await listNames(backend, "")).toEqual([k0]);

      await backend.store(k1, bytesOf("value1"));
      expect((await backend.info(k1)).exists).toBe(true);
      expect(textOf(await backend.load(k1))).toBe("value1");
      expect(await listNames(backend, "")).toEqual([k0, k1]);

      await backend.delete(k0);
      expect((await backend.info(k0)).exists).toBe(false);
      expect(await listNames(backend, "")).toEqual([k1]);

      await backend.move(k1, k2);
      expect((await backend.info(k1)).exists).toBe(false);
      expect((await backend.info(k2)).exists).toBe(true);
      expect(textOf(await backend.load(k2))).toBe("value1");
      expect(await listNames(backend, "")).toEqual([k2]);

      await backend.delete(k2);
      expect((await backend.info(k2)).exists).toBe(false);
      expect(await listNames(backend, "")).toEqual([]);

      expect(await backend.info(k42)).toMatchObject({ exists: false, size: 0 });
      await expectCode(backend.load(k42), "OBJECT_NOT_FOUND");
      await expectCode(backend.delete(k42), "OBJECT_NOT_FOUND");
    });

    suite.test("store overwrites an existing value, also with a shorter one", async ({ backend }) => {
      await backend.store("key", bytesOf("a long first value"));
      await backend.store("key", bytesOf("short"));
      expect(textOf(await backend.load("key"))).toBe("short");
      expect((await backend.info("key")).size).toBe(5);
      expect(await listNames(backend, "")).toEqual(["key"]);
    });

    suite.test("move overwrites an existing target", async ({ backend }) => {
      await backend.store("source", bytesOf("from source"));
      await backend.store("target", bytesOf("old target value"));
      await backend.move("source", "target");
      expect(textOf(await backend.load("target"))).toBe("from source");
      expect((await backend.info("source")).exists).toBe(false);
      expect(await listNames(backend, "")).toEqual(["target"]);
    });

    suite.test("move of a missing object fails with OBJECT_NOT_FOUND and creates nothing", async ({ backend }) => {
      await expectCode(backend.move("missing", "target"), "OBJECT_NOT_FOUND");
      expect((await backend.info("target")).exists).toBe(false);
    });

    suite.test("an empty value stores, loads and reports size 0", async ({ backend }) => {
      await backend.store("empty", new Uint8Array(0));
      expect(await backend.info("empty")).toMatchObject({ exists: true, size: 0, directory: false });
      expect((await backend.load("empty")).byteLength).toBe(0);
      expect(await listNames(backend, "")).toEqual(["empty"]);
    });

    suite.test("soft-deleted style names (.del) are ordinary valid names", async ({ backend }) => {
      await backend.store("key", bytesOf("value"));
      await backend.move("key", "key.del");
      expect(await listNames(backend, "")).toEqual(["key.del"]);
      await backend.move("key.del", "key");
      expect(textOf(await backend.load("key"))).toBe("value");
    });
  });
}
