import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { PosixFsBackend, plugin } from "@borgstore/backend-posixfs";
import { Store, backendFromUrl, registerBackend } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { filesBelow, listNames, newBackend, text } from "./helpers.js";

const CONFIG = { "zero/": { levels: [0] }, "one/": { levels: [1] }, "two/": { levels: [2] } };
/** The reference tests' key(): 4-byte big-endian hex. */
const key = (n: number) => n.toString(16).padStart(8, "0");

async function storeOver(backend: PosixFsBackend = newBackend()): Promise<Store> {
  const store = new Store({ backend, config: CONFIG });
  await store.create();
  await store.open();
  return store;
}

describe("Store over posixfs: the on-disk layout", () => {
  it("nests keys into directories of two key characters per level and deletes through the backend", async () => {
    const backend = newBackend();
    const store = await storeOver(backend);
    const k0 = key(0);
    await store.store(`two/${k0}`, text("value"));
    expect(await store.load(`two/${k0}`)).toEqual(text("value"));
    expect(await store.info(`two/${k0}`)).toMatchObject({ exists: true, size: 5, directory: false });
    expect(await listNames(backend, "two")).toEqual(["00"]);
    expect(await listNames(backend, "two/00")).toEqual(["00"]);
    expect(await listNames(backend, "two/00/00")).toEqual([k0]);
    const listed = [];
    for await (const item of store.list("two")) listed.push(item.name);
    expect(listed).toEqual([k0]);
    await store.delete(`two/${k0}`);
    expect(store.stats.backend_delete_calls).toBe(1);
    expect(await filesBelow(backend.base)).toEqual([]);
    await store.close();
  });

  it("nests per namespace config and soft-deletes by renaming to .del next to the item", async () => {
    const backend = newBackend();
    const store = await storeOver(backend);
    await store.store("zero/something", text("z"));
    await store.store("one/1234", text("1"));
    await store.store("two/12345678", text("2"));
    await store.move("two/12345678", { delete: true });
    expect(await filesBelow(backend.base)).toEqual(["one/12/1234", "two/12/34/12345678.del", "zero/something"]);
    expect((await stat(join(backend.base, "two/12/34/12345678.del"))).mode & 0o777).toBe(0o600);
    await store.move("two/12345678", { undelete: true });
    expect(await filesBelow(backend.base)).toEqual(["one/12/1234", "two/12/34/12345678", "zero/something"]);
    await store.close();
  });

  it("lists many items sorted at every nesting level", async () => {
    const store = await storeOver();
    const keys = Array.from({ length: 300 }, (_, i) => key((i * 2654435761) >>> 0));
    await Promise.all(keys.flatMap((k) => ["zero", "one", "two"].map((ns) => store.store(`${ns}/${k}`, text(k)))));
    for (const ns of ["zero", "one", "two"]) {
      const listed = [];
      for await (const item of store.list(ns)) listed.push(item.name);
      expect(listed).toEqual([...keys].sort());
    }
    await store.close();
  });

  it("quota() is -1/-1 without a quota", async () => {
    const store = await storeOver();
    expect(await store.quota()).toEqual({ limit: -1, usage: -1 });
    await store.close();
  });

  it("quota() reports limit and usage with a quota", async () => {
    const store = await storeOver(newBackend({ quota: 1_000_000 }));
    expect(await store.quota()).toEqual({ limit: 1_000_000, usage: 0 });
    await store.store("two/12345678", new Uint8Array(1000));
    expect(await store.quota()).toEqual({ limit: 1_000_000, usage: 1000 });
    await store.close();
  });

  it("a file:// URL resolves to this package through core once its plugin is registered", async () => {
    // Core imports "@borgstore/backend-posixfs" by name from its own directory, which a pnpm
    // workspace (no dependency core → posixfs) cannot resolve; registering the plugin is the
    // documented way that works everywhere.
    registerBackend(plugin);
    const base = newBackend().base;
    const backend = await backendFromUrl(`file://${base}`, { quota: 10 });
    expect(backend).toBeInstanceOf(PosixFsBackend);
    expect((backend as PosixFsBackend).quotaLimit).toBe(10);
    const store = new Store({ url: `file://${base}`, config: CONFIG });
    await store.create();
    await store.open();
    await store.store("one/abcd", text("x"));
    await store.close();
    expect(await readdir(join(base, "one/ab"))).toEqual(["abcd"]);
  });
});
