import type { BackendCapabilities, ItemInfo } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, key, listItems, listNames } from "../helpers.js";
import { namesInEmptyNamespace } from "./namespaced.js";

/**
 * atime is seconds since the epoch. With the `atime` capability it is a real, recent time (not
 * milliseconds); without, any non-negative number (0 = unknown).
 */
export function expectAtime(item: ItemInfo, caps: BackendCapabilities): void {
  expect(typeof item.atime, `atime of ${item.name}`).toBe("number");
  expect(item.atime, `atime of ${item.name}`).toBeGreaterThanOrEqual(0);
  if (caps.atime) {
    const now = Date.now() / 1000;
    expect(item.atime, `atime of ${item.name} (seconds since the epoch)`).toBeGreaterThan(now - 366 * 86400);
    expect(item.atime, `atime of ${item.name} (seconds since the epoch)`).toBeLessThan(now + 86400);
  }
}

export function registerListTests(suite: Suite): void {
  suite.topic("list", () => {
    suite.test("the root lists two objects and a directory with exists, directory, size and atime", async ({ backend, caps }) => {
      const [k0, k1] = [key(0), key(1)];
      await backend.store(k0, bytesOf("value0"));
      await backend.store(k1, bytesOf("value01"));
      await backend.mkdir("dir");
      // Without directories a namespace shows only through an object in it.
      if (!caps.directories) await backend.store("dir/inside", bytesOf("x"));
      const items = await listItems(backend, "");
      expect(items.map((i) => i.name)).toEqual([k0, k1, "dir"].sort());
      const byName = new Map(items.map((i) => [i.name, i]));
      expect(byName.get(k0)).toMatchObject({ name: k0, exists: true, size: 6, directory: false });
      expect(byName.get(k1)).toMatchObject({ name: k1, exists: true, size: 7, directory: false });
      expect(byName.get("dir")).toMatchObject({ name: "dir", exists: true, directory: true });
      for (const item of items) expectAtime(item, caps);
      if (!caps.directories) await backend.delete("dir/inside");
      expect(await namesInEmptyNamespace(backend, caps, "dir")).toEqual([]);
    });

    suite.test("info reports atime in seconds", async ({ backend, caps }) => {
      await backend.store("key", bytesOf("value"));
      expectAtime(await backend.info("key"), caps);
    });

    suite.test("an empty directory lists as []", async ({ backend, caps, skip }) => {
      if (!caps.directories) skip("capability directories: false (an empty namespace does not exist)");
      await backend.mkdir("dir");
      expect(await listItems(backend, "dir")).toEqual([]);
    });

    suite.test("listing a missing directory fails with OBJECT_NOT_FOUND", async ({ backend, caps, skip }) => {
      if (!caps.directories) skip("capability directories: false (a missing namespace lists like an empty one)");
      await expectCode(listItems(backend, "nonexistent"), "OBJECT_NOT_FOUND");
      await expectCode(listItems(backend, "nonexistent/deeper"), "OBJECT_NOT_FOUND");
    });

    suite.test("names come sorted by code point, directories among objects", async ({ backend }) => {
      const names = ["b", "a-b", "a.b", "a_b", "a0", "ab", "a", "a~", "0", "9z", "zz", "a.del", "c"];
      for (const name of names) await backend.store(name, bytesOf(name));
      await backend.store("b0/inner", bytesOf("x"));
      await backend.store("a1/inner", bytesOf("x"));
      const expected = [...names, "a1", "b0"].sort();
      expect(await listNames(backend, "")).toEqual(expected);
    });

    suite.test("a namespace lists only its direct children, by leaf name", async ({ backend }) => {
      await backend.store("data/00/00000000", bytesOf("x"));
      await backend.store("data/00/00000001", bytesOf("x"));
      await backend.store("data/01/01000000", bytesOf("x"));
      await backend.store("data/direct", bytesOf("xy"));
      const items = await listItems(backend, "data");
      expect(items.map((i) => i.name)).toEqual(["00", "01", "direct"]);
      expect(items.map((i) => i.directory)).toEqual([true, true, false]);
      expect(items[2]?.size).toBe(2);
      expect(await listNames(backend, "data/00")).toEqual(["00000000", "00000001"]);
    });

    suite.test("1000 objects in one namespace list complete and sorted", async ({ backend }) => {
      const names = Array.from({ length: 1000 }, (_, i) => key((i * 7919) % 1000));
      for (let i = 0; i < names.length; i += 50)
        await Promise.all(names.slice(i, i + 50).map((n) => backend.store(`many/${n}`, bytesOf(n))));
      expect(await listNames(backend, "many")).toEqual([...names].sort());
    });

    suite.test("list is lazy: stores during iteration do not break it", async ({ backend }) => {
      for (let i = 0; i < 20; i++) await backend.store(`data/${key(i)}`, bytesOf("x"));
      const seen: string[] = [];
      for await (const item of backend.list("data")) {
        seen.push(item.name);
        await backend.store(`other/${item.name}`, bytesOf("y"));
      }
      expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => key(i)));
      expect((await listNames(backend, "other")).length).toBe(20);
    });
  });
}
