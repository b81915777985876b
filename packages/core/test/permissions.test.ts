import { describe, expect, it } from "vitest";
import {
  InvalidArgument,
  MemoryBackend,
  PERMISSION_SHORTCUTS,
  PermissionDenied,
  type Permissions,
  checkPermission,
  parsePermissions,
} from "../src/index.js";
import { bytes, collect, names } from "./helpers.js";

/** A store filled without restrictions, then reopened with `permissions` on the same data. */
async function restricted(permissions: Permissions, fill: (b: MemoryBackend) => Promise<void> = async () => {}) {
  const name = `perm-${Math.random().toString(36).slice(2)}`;
  const admin = new MemoryBackend({ name });
  await admin.create();
  await admin.open();
  await fill(admin);
  await admin.close();
  const backend = new MemoryBackend({ name, permissions });
  await backend.open();
  return backend;
}

const denied = { code: "PERMISSION_DENIED" };

async function* chunks(...values: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* values;
}

/** A MemoryBackend counting its info primitive's calls: how often a store looked up whether its name exists. */
class CountingInfo extends MemoryBackend {
  infos = 0;
  protected override _info(...args: Parameters<MemoryBackend["_info"]>): ReturnType<MemoryBackend["_info"]> {
    this.infos++;
    return super._info(...args);
  }
}

describe("permissions (docs/rest-protocol.md#permissions), enforced by core on any backend", () => {
  it("looks a stored name up only when 'W' is not granted for it (with 'W' a store is permitted either way)", async () => {
    const name = `perm-${Math.random().toString(36).slice(2)}`;
    const admin = new MemoryBackend({ name });
    await admin.create();
    await admin.open();
    await admin.store("w/old", bytes("1"));
    await admin.store("all/old", bytes("1"));
    await admin.close();
    const be = new CountingInfo({ name, permissions: { "": "lr", all: "lrwW", w: "lrw" } });
    await be.open();
    await be.store("all/old", bytes("2"));
    await be.store("all/new", bytes("2"));
    await be.storeStream("all/streamed", chunks(bytes("2")));
    expect(be.infos).toBe(0);
    await be.store("w/new", bytes("2"));
    await expect(be.store("w/old", bytes("2"))).rejects.toMatchObject(denied);
    await expect(be.storeStream("w/old", chunks(bytes("2")))).rejects.toMatchObject(denied);
    await expect(be.store("other", bytes("2"))).rejects.toMatchObject(denied);
    expect(be.infos).toBe(4);
    expect(await be.load("w/old")).toEqual(bytes("1"));
    expect(await be.load("all/old")).toEqual(bytes("2"));
    await be.close();
  });

  it("allows everything with lrwWD", async () => {
    const be = new MemoryBackend({ permissions: { "": "lrwWD" } });
    await be.create();
    await be.open();
    await be.mkdir("dir");
    await be.store("dir/f", bytes("1"));
    await be.store("dir/f", bytes("2"));
    expect(await be.load("dir/f")).toEqual(bytes("2"));
    expect(await names(be.list("dir"))).toEqual(["f"]);
    await be.move("dir/f", "dir/g");
    await be.delete("dir/g");
    await be.close();
    await be.destroy();
  });

  it("read-only (lr): no new store, overwrite, delete, move or destroy; load and list work", async () => {
    const be = await restricted({ "": "lr" }, (b) => b.store("f", bytes("1")));
    await expect(be.store("new", bytes("x"))).rejects.toMatchObject(denied);
    await expect(be.store("f", bytes("x"))).rejects.toMatchObject(denied);
    await expect(be.delete("f")).rejects.toMatchObject(denied);
    await expect(be.move("f", "g")).rejects.toMatchObject(denied);
    expect(await be.load("f")).toEqual(bytes("1"));
    expect(await names(be.list(""))).toEqual(["f"]);
    expect((await be.info("f")).exists).toBe(true);
    await be.close();
    await expect(be.destroy()).rejects.toMatchObject(denied);
  });

  it("no-delete (lrw): new stores work; overwrite, delete, move and destroy are denied", async () => {
    const be = await restricted({ "": "lrw" }, (b) => b.store("f", bytes("1")));
    await be.store("new", bytes("x"));
    await expect(be.store("f", bytes("x"))).rejects.toMatchObject(denied);
    await expect(be.delete("f")).rejects.toMatchObject(denied);
    await expect(be.move("f", "g")).rejects.toMatchObject(denied);
    await be.close();
    await expect(be.destroy()).rejects.toMatchObject(denied);
  });

  it("looks up the most specific entry: {'': l, dir: lrw, dir/file: r}", async () => {
    const be = await restricted({ "": "l", dir: "lrw", "dir/file": "r" }, async (b) => {
      await b.mkdir("dir");
      await b.store("dir/file", bytes("1"));
    });
    await expect(be.mkdir("other")).rejects.toMatchObject(denied);
    await be.store("dir/new", bytes("x"));
    await expect(be.store("dir/file", bytes("x"))).rejects.toMatchObject(denied);
    expect(await be.load("dir/file")).toEqual(bytes("1"));
    await be.close();
    await expect(be.destroy()).rejects.toMatchObject(denied);
  });

  it("lets a more specific entry shadow a broader one", async () => {
    const be = await restricted({ "": "lrwWD", restricted: "lr" });
    await be.store("free", bytes("x"));
    await expect(be.store("restricted/x", bytes("x"))).rejects.toMatchObject(denied);
    expect(await collect(be.list(""))).toHaveLength(1);
  });

  it("uses the reference's message and needs segment-exact keys", () => {
    expect(() => checkPermission({ "": "r" }, "data/x", "D")).toThrow(
      new PermissionDenied("One of permissions 'D' required for 'data/x'"),
    );
    expect(() => checkPermission({ "data/": "lrwWD" }, "data/x", "r")).toThrow(PermissionDenied);
    expect(() => checkPermission({ data: "l" }, "datax/y", "l")).toThrow(PermissionDenied);
    expect(() => checkPermission(undefined, "x", "D")).not.toThrow();
    expect(() => checkPermission({}, "x", "D")).not.toThrow();
  });

  it("parses the server shortcuts and JSON mappings", () => {
    expect(parsePermissions("borgbackup-all")).toBeUndefined();
    expect(parsePermissions("borgbackup-read-only")).toEqual(PERMISSION_SHORTCUTS["borgbackup-read-only"]);
    expect(parsePermissions('{"": "l", "data": "lrw"}')).toEqual({ "": "l", data: "lrw" });
    expect(parsePermissions("{}")).toBeUndefined();
    expect(() => parsePermissions("nonsense")).toThrow(InvalidArgument);
    expect(() => parsePermissions('{"": "lrx"}')).toThrow(InvalidArgument);
    expect(() => parsePermissions("[]")).toThrow(InvalidArgument);
  });
});
