import type { Permissions } from "@borgstore/core";
import { PermissionDenied } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { listNames, newBackend, text } from "./helpers.js";
import { PosixFsBackend } from "@borgstore/backend-posixfs";

/** A store created without restrictions, holding `file`, then reopened with `permissions`. */
async function restricted(permissions: Permissions): Promise<PosixFsBackend> {
  const setup = newBackend();
  await setup.create();
  await setup.open();
  await setup.store("file", text("content"));
  await setup.close();
  const backend = new PosixFsBackend({ path: setup.base, permissions });
  await backend.open();
  return backend;
}

const denied = (required: string, name: string) => new PermissionDenied(`One of permissions '${required}' required for '${name}'`);

describe("PosixFsBackend permissions (enforced by core, reference texts)", () => {
  it("full permissions allow create, mkdir, store, overwrite, load, list, move and delete", async () => {
    const backend = newBackend({ permissions: { "": "lrwWD" } });
    await backend.create();
    await backend.open();
    await backend.mkdir("dir");
    await backend.store("dir/a", text("1"));
    await backend.store("dir/a", text("2"));
    expect(await backend.load("dir/a")).toEqual(text("2"));
    expect(await listNames(backend, "dir")).toEqual(["a"]);
    await backend.move("dir/a", "dir/b");
    await backend.delete("dir/b");
    await backend.close();
    await backend.destroy();
  });

  it("read-only (lr) denies new stores, overwrites, delete, move and destroy, allows load and list", async () => {
    const backend = await restricted({ "": "lr" });
    await expect(backend.store("new", text("x"))).rejects.toThrow(denied("wW", "new"));
    await expect(backend.store("file", text("x"))).rejects.toThrow(denied("W", "file"));
    await expect(backend.delete("file")).rejects.toThrow(denied("D", "file"));
    await expect(backend.move("file", "other")).rejects.toThrow(denied("D", "file"));
    expect(await backend.load("file")).toEqual(text("content"));
    expect(await listNames(backend)).toEqual(["file"]);
    await backend.close();
    await expect(backend.destroy()).rejects.toThrow(denied("D", ""));
  });

  it("no-delete (lrw) allows new stores but denies overwrite, delete, move and destroy", async () => {
    const backend = await restricted({ "": "lrw" });
    await backend.store("new", text("x"));
    await expect(backend.store("new", text("y"))).rejects.toBeInstanceOf(PermissionDenied);
    await expect(backend.delete("file")).rejects.toBeInstanceOf(PermissionDenied);
    await expect(backend.move("file", "moved")).rejects.toBeInstanceOf(PermissionDenied);
    expect(await backend.load("new")).toEqual(text("x"));
    await backend.close();
    await expect(backend.destroy()).rejects.toBeInstanceOf(PermissionDenied);
  });

  it("looks up the most specific entry: full name, then parents, down to the root", async () => {
    const setup = newBackend();
    await setup.create();
    await setup.open();
    await setup.store("dir/file", text("1"));
    await setup.close();
    const backend = new PosixFsBackend({ path: setup.base, permissions: { "": "l", dir: "lrw", "dir/file": "r" } });
    await backend.open();
    await expect(backend.mkdir("newdir")).rejects.toThrow(denied("w", "newdir"));
    await backend.store("dir/new", text("2"));
    await expect(backend.store("dir/file", text("3"))).rejects.toThrow(denied("W", "dir/file"));
    expect(await backend.load("dir/file")).toEqual(text("1"));
    await backend.close();
    await expect(backend.destroy()).rejects.toBeInstanceOf(PermissionDenied);
  });

  it("a more specific entry shadows a more permissive root entry", async () => {
    const backend = await restricted({ "": "lrwWD", restricted: "lr" });
    await expect(backend.store("restricted/x", text("x"))).rejects.toThrow(denied("wW", "restricted/x"));
    await backend.store("free/x", text("x"));
    await backend.close();
  });

  it("passes permissions given to the file: URL plugin", async () => {
    const { plugin } = await import("@borgstore/backend-posixfs");
    const setup = await restricted({ "": "lrwWD" });
    await setup.close();
    const backend = plugin.fromUrl(`file://${setup.base}`, { permissions: { "": "l" } });
    await backend?.open();
    await expect(backend?.load("file")).rejects.toBeInstanceOf(PermissionDenied);
    await backend?.close();
  });
});
