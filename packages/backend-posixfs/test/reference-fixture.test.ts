import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, cp, readFile, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { Store, type StoreConfig, collectBytes } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { filesBelow, tempDir } from "./helpers.js";

/** A store written by the Python reference (borgstore 0.6.0, posixfs with quota), read-only in shared/. */
/** shared/ sits beside the repository (on developers' machines and on CI). */
const FIXTURE = fileURLToPath(new URL("../../../../shared/fixtures/reference-posixfs", import.meta.url));

interface Manifest {
  config: StoreConfig;
  items: Record<string, { size: number; sha256: string }>;
  soft_deleted: Record<string, { size: number; sha256: string }>;
  quota_after_close: { limit: number; usage: number };
  files: string[];
}

const manifest = JSON.parse(readFileSync(join(FIXTURE, "manifest.json"), "utf8")) as Manifest;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const namespaces = Object.keys(manifest.config).map((ns) => ns.replace(/\/$/, ""));

/** A writable copy of the reference tree. */
async function copyOfReference(): Promise<string> {
  const path = join(tempDir(), "store");
  await cp(join(FIXTURE, "store"), path, { recursive: true });
  for (const entry of ["", ...(await readdir(path, { recursive: true }))]) {
    const full = join(path, entry);
    await chmod(full, (await stat(full)).isDirectory() ? 0o755 : 0o644);
  }
  return path;
}

async function storeOn(path: string, quota: number): Promise<{ store: Store; backend: PosixFsBackend }> {
  const backend = new PosixFsBackend({ path, quota });
  const store = new Store({ backend, config: manifest.config });
  return { store, backend };
}

async function storeList(store: Store, deleted = false): Promise<string[]> {
  const names: string[] = [];
  for (const ns of namespaces) for await (const item of store.list(ns, { deleted })) names.push(`${ns}/${item.name}`);
  return names.sort();
}

describe("a store written by the Python reference", () => {
  it("opens with a quota and reports the usage the reference left in quota.hid", async () => {
    const path = await copyOfReference();
    const { store } = await storeOn(path, manifest.quota_after_close.limit);
    await store.open();
    expect(await store.quota()).toEqual(manifest.quota_after_close);
    await store.close();
    expect(await readFile(join(path, "quota.hid"), "latin1")).toBe(String(manifest.quota_after_close.usage));
  });

  it("a rescan of the tree agrees with the reference's quota.hid", async () => {
    const path = await copyOfReference();
    await unlink(join(path, "quota.hid"));
    const { store } = await storeOn(path, manifest.quota_after_close.limit);
    await store.open();
    expect((await store.quota()).usage).toBe(manifest.quota_after_close.usage);
    await store.close();
  });

  it("lists every item and loads each with the right size and sha256", async () => {
    const path = await copyOfReference();
    const { store } = await storeOn(path, manifest.quota_after_close.limit);
    await store.open();
    expect(await storeList(store)).toEqual(Object.keys(manifest.items).sort());
    for (const [name, { size, sha256: digest }] of Object.entries(manifest.items)) {
      const value = await store.load(name);
      expect(value.byteLength, name).toBe(size);
      expect(sha256(value), name).toBe(digest);
      expect(sha256(await collectBytes(await store.loadStream(name))), name).toBe(digest);
      expect(await store.hash(name), name).toBe(digest);
    }
    await store.close();
  });

  it("shows the soft-deleted item only as deleted", async () => {
    const path = await copyOfReference();
    const { store } = await storeOn(path, manifest.quota_after_close.limit);
    await store.open();
    expect(await storeList(store, true)).toEqual(Object.keys(manifest.soft_deleted).sort());
    for (const [name, { size, sha256: digest }] of Object.entries(manifest.soft_deleted)) {
      expect((await store.info(name)).exists).toBe(false);
      expect(await store.info(name, { deleted: true })).toMatchObject({ exists: true, size });
      expect(sha256(await store.load(name, { deleted: true }))).toBe(digest);
      await store.move(name, { undelete: true });
      expect(sha256(await store.load(name))).toBe(digest);
    }
    await store.close();
  });

  it("takes new writes and keeps quota.hid in step", async () => {
    const path = await copyOfReference();
    const { store } = await storeOn(path, manifest.quota_after_close.limit);
    await store.open();
    const value = new TextEncoder().encode("written by borgstore-ts");
    const key = sha256(value);
    await store.store(`data/${key}`, value);
    await store.delete("config/manifest");
    await store.close();
    const expected = manifest.quota_after_close.usage + value.byteLength - manifest.items["config/manifest"]!.size;
    expect(await readFile(join(path, "quota.hid"), "latin1")).toBe(String(expected));
    expect(await filesBelow(path)).toContain(`data/${key.slice(0, 2)}/${key.slice(2, 4)}/${key}`);
  });
});

describe("a store written here, byte for byte against the reference's tree", () => {
  it("has exactly the reference's files, bytes, modes and quota.hid — and no temp files", async () => {
    const reference = join(FIXTURE, "store");
    const path = join(tempDir(), "ours");
    const backend = new PosixFsBackend({ path, quota: manifest.quota_after_close.limit });
    const store = new Store({ backend, config: manifest.config });
    await store.create();
    await store.open();
    // Same items and the same soft delete as the reference did, values read from (a copy of) its tree.
    const source = new Store({ backend: new PosixFsBackend(await copyOfReference()), config: manifest.config });
    await source.open();
    for (const name of Object.keys(manifest.items).sort()) await store.store(name, await source.load(name));
    for (const name of Object.keys(manifest.soft_deleted))
      await store.store(name, await source.load(name, { deleted: true }));
    await source.close();
    for (const name of Object.keys(manifest.soft_deleted)) await store.move(name, { delete: true });
    await store.close();

    const ours = await filesBelow(path);
    expect(ours).toEqual([...manifest.files].sort());
    for (const file of ours) {
      const [mine, theirs] = await Promise.all([readFile(join(path, file)), readFile(join(reference, file))]);
      expect(Buffer.compare(mine, theirs), file).toBe(0);
      if (file !== "quota.hid") expect((await stat(join(path, file))).mode & 0o777, file).toBe(0o600);
    }
    expect(await readFile(join(path, "quota.hid"), "latin1")).toBe(String(manifest.quota_after_close.usage));
    const dirs = (await readdir(path, { recursive: true, withFileTypes: true })).filter((e) => e.isDirectory()).length;
    const theirDirs = (await readdir(reference, { recursive: true, withFileTypes: true })).filter((e) => e.isDirectory()).length;
    expect(dirs).toBe(theirDirs);
    expect(ours.filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});
