import type { Backend, BackendCapabilities } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, key, listNames, textOf } from "../helpers.js";

/**
 * Names in a namespace that holds no object. With `directories` it is the empty list; without,
 * a namespace exists only through its objects, so "no such namespace" (OBJECT_NOT_FOUND) is fine too.
 */
export async function namesInEmptyNamespace(backend: Backend, caps: BackendCapabilities, ns: string): Promise<string[]> {
  try {
    return await listNames(backend, ns);
  } catch (err) {
    if (!caps.directories && (err as { code?: string }).code === "OBJECT_NOT_FOUND") return [];
    throw err;
  }
}

/**
 * Names in a namespace that a failed store may or may not have made: the empty list, or "no such
 * namespace" (OBJECT_NOT_FOUND). Any other error is the backend's failure and is thrown.
 */
export async function namesInNamespaceIfAny(backend: Backend, ns: string): Promise<string[]> {
  try {
    return await listNames(backend, ns);
  } catch (err) {
    if ((err as { code?: string }).code === "OBJECT_NOT_FOUND") return [];
    throw err;
  }
}

export function registerNamespacedTests(suite: Suite): void {
  suite.topic("namespaces", () => {
    suite.test("objects in namespaces are isolated, listed by leaf name, moved and removed", async ({ backend, caps }) => {
      const [ns0, ns1, ns42] = ["data", "meta", "ns42"];
      const [k0, k1, k2, k42] = [key(0), key(1), key(2), key(42)];

      await backend.mkdir(ns0);
      expect(await namesInEmptyNamespace(backend, caps, ns0)).toEqual([]);
      await backend.store(`${ns0}/${k0}`, bytesOf("value0"));
      expect((await backend.info(`${ns0}/${k0}`)).exists).toBe(true);
      expect((await backend.info(`${ns1}/${k0}`)).exists).toBe(false);
      expect(textOf(await backend.load(`${ns0}/${k0}`))).toBe("value0");
      expect(await listNames(backend, ns0)).toEqual([k0]);
      expect(await backend.info(ns0)).toMatchObject({ exists: true, directory: true });

      await backend.mkdir(ns1);
      await backend.store(`${ns1}/${k1}`, bytesOf("value1"));
      expect((await backend.info(`${ns1}/${k1}`)).exists).toBe(true);
      expect((await backend.info(`${ns0}/${k1}`)).exists).toBe(false);
      expect(textOf(await backend.load(`${ns1}/${k1}`))).toBe("value1");
      expect(await listNames(backend, ns1)).toEqual([k1]);
      expect(await listNames(backend, "")).toEqual([ns0, ns1]);

      await backend.delete(`${ns0}/${k0}`);
      expect((await backend.info(`${ns0}/${k0}`)).exists).toBe(false);
      expect(await namesInEmptyNamespace(backend, caps, ns0)).toEqual([]);

      await backend.move(`${ns1}/${k1}`, `${ns1}/${k2}`);
      expect((await backend.info(`${ns1}/${k1}`)).exists).toBe(false);
      expect((await backend.info(`${ns1}/${k2}`)).exists).toBe(true);
      expect(await listNames(backend, ns1)).toEqual([k2]);

      await backend.delete(`${ns1}/${k2}`);
      expect((await backend.info(`${ns1}/${k2}`)).exists).toBe(false);
      expect(await namesInEmptyNamespace(backend, caps, ns1)).toEqual([]);

      // Without directories, namespaces vanish with their last object.
      expect(await listNames(backend, "")).toEqual(caps.directories ? [ns0, ns1] : []);

      for (const missing of [`${ns0}/${k42}`, `${ns42}/${k42}`]) {
        expect((await backend.info(missing)).exists).toBe(false);
        await expectCode(backend.load(missing), "OBJECT_NOT_FOUND");
        await expectCode(backend.delete(missing), "OBJECT_NOT_FOUND");
      }

      await backend.rmdir(ns0);
      await backend.rmdir(ns1);
      expect(await listNames(backend, "")).toEqual([]);
    });

    suite.test("mkdir of an empty namespace shows it as a directory in list and info", async ({ backend, caps, skip }) => {
      if (!caps.directories) skip("capability directories: false (namespaces exist only through their objects)");
      await backend.mkdir("data");
      expect(await backend.info("data")).toMatchObject({ exists: true, directory: true });
      expect(await listNames(backend, "")).toEqual(["data"]);
      expect(await listNames(backend, "data")).toEqual([]);
    });

    suite.test("info of the root reports an existing directory", async ({ backend, caps, skip }) => {
      if (!caps.directories) skip("capability directories: false (the root is no directory of its own)");
      await backend.store("key", bytesOf("value"));
      expect(await backend.info("")).toMatchObject({ exists: true, directory: true });
    });

    suite.test("mkdir is idempotent and creates missing parents", async ({ backend, caps }) => {
      await backend.mkdir("a/b/c");
      await backend.mkdir("a/b/c");
      await backend.mkdir("a");
      await backend.store("a/b/c/key", bytesOf("value"));
      expect(await listNames(backend, "a")).toEqual(["b"]);
      expect(await listNames(backend, "a/b")).toEqual(["c"]);
      expect(await listNames(backend, "a/b/c")).toEqual(["key"]);
      if (caps.directories) expect(await backend.info("a/b")).toMatchObject({ exists: true, directory: true });
    });

    suite.test("rmdir of a missing namespace fails with OBJECT_NOT_FOUND", async ({ backend, caps, skip }) => {
      if (!caps.directories) skip("capability directories: false (rmdir has nothing to remove)");
      await expectCode(backend.rmdir("missing"), "OBJECT_NOT_FOUND");
    });

    suite.test("rmdir of a namespace that holds an object fails and keeps the object", async ({ backend, caps, skip }) => {
      if (!caps.directories) skip("capability directories: false (rmdir has nothing to remove)");
      await backend.store("data/key", bytesOf("value"));
      await expect(backend.rmdir("data")).rejects.toBeInstanceOf(Error);
      expect(textOf(await backend.load("data/key"))).toBe("value");
    });

    suite.test("store creates missing nesting directories on demand", async ({ backend }) => {
      await backend.store("namespace1/nest1/key1", bytesOf("value1"));
      expect(textOf(await backend.load("namespace1/nest1/key1"))).toBe("value1");
      await backend.store("namespace2/ab/cd/key2", bytesOf("value2"));
      expect(await listNames(backend, "namespace2/ab/cd")).toEqual(["key2"]);
      expect(await listNames(backend, "")).toEqual(["namespace1", "namespace2"]);
    });

    suite.test("move creates missing nesting directories of the target on demand", async ({ backend }) => {
      await backend.store("namespace1/nest1/key1", bytesOf("value1"));
      await backend.move("namespace1/nest1/key1", "namespace1a/nest1a/key1a");
      expect(textOf(await backend.load("namespace1a/nest1a/key1a"))).toBe("value1");
      expect((await backend.info("namespace1/nest1/key1")).exists).toBe(false);
      await backend.store("key2", bytesOf("value2"));
      await backend.move("key2", "namespace2a/nest2a/key2a");
      expect(textOf(await backend.load("namespace2a/nest2a/key2a"))).toBe("value2");
    });

    suite.test("a value at one level is not visible under a similar name at another", async ({ backend }) => {
      await backend.store("data/12/34/12345678", bytesOf("nested"));
      await backend.store("data/12345678", bytesOf("flat"));
      expect(textOf(await backend.load("data/12/34/12345678"))).toBe("nested");
      expect(textOf(await backend.load("data/12345678"))).toBe("flat");
      expect(await listNames(backend, "data")).toEqual(["12", "12345678"]);
    });
  });
}
