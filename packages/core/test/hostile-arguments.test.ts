import { describe, expect, it } from "vitest";
import {
  type Backend,
  InvalidArgument,
  InvalidName,
  MAX_NESTING_LEVELS,
  MemoryBackend,
  PERMISSION_SHORTCUTS,
  type Permissions,
  Store,
  nest,
} from "../src/index.js";
import { mayBeGrantedBelow } from "../src/permissions.js";
import { bytes, text } from "./helpers.js";

async function opened(permissions?: Permissions): Promise<MemoryBackend> {
  const name = `hostile-${Math.random().toString(36).slice(2)}`;
  const admin = new MemoryBackend({ name });
  await admin.create();
  await admin.open();
  await admin.store("a", bytes("hello world"));
  await admin.close();
  const backend = new MemoryBackend({ name, permissions });
  await backend.open();
  return backend;
}

/** Resolves within `ms` or the test fails: a nest() loop over a huge level count would hang here. */
async function quickly<T>(promise: Promise<T>, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not answered within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("nesting levels are bounded (a huge level count must not hang or exhaust memory)", () => {
  it.each([999_999_999_999, MAX_NESTING_LEVELS + 1, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    "nest() refuses levels=%d with InvalidArgument at once",
    (levels) => {
      expect(() => nest("data/0123", levels)).toThrow(InvalidArgument);
    },
  );

  it("nest() still takes 0 up to MAX_NESTING_LEVELS (50: a 100-character key is used up)", () => {
    expect(MAX_NESTING_LEVELS).toBe(50);
    expect(nest("data/0123", 0)).toBe("data/0123");
    expect(nest("a", MAX_NESTING_LEVELS)).toBe(`a${"/".repeat(MAX_NESTING_LEVELS)}a`);
  });

  it("Backend.defrag refuses levels=999999999999 with InvalidArgument before touching the sources", async () => {
    const be = await opened();
    const attempt = be.defrag([["a", 0, 5]], { algorithm: "sha256", levels: 999_999_999_999 });
    await expect(quickly(attempt)).rejects.toBeInstanceOf(InvalidArgument);
    expect(await be.defrag([["a", 0, 5]], { algorithm: "sha256", levels: 2 })).toMatch(/^2c\/f2\/2cf24dba/);
  });

  it("a read-only backend refuses a defrag by its target at once, before any source is checked", async () => {
    const be = await opened(PERMISSION_SHORTCUTS["borgbackup-read-only"]);
    const many = Array.from({ length: 10 }, () => ["a", 0, 1] as [string, number, number]);
    await expect(be.defrag([...many, ["nope/../x", 0, 1]], { target: "t" })).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    await expect(be.defrag(many, { algorithm: "sha256", namespace: "data" })).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    expect(() => be.checkDefragTarget({ target: "t" })).toThrow(/One of permissions 'wW' required for 't'/);
    // locks/ is writable for a read-only client: a defrag there is allowed.
    expect(() => be.checkDefragTarget({ target: "locks/t" })).not.toThrow();
    expect(() => be.checkDefragTarget({ algorithm: "sha256", namespace: "locks" })).not.toThrow();
  });

  it("a digest-named target is allowed when some name below its namespace may be written", () => {
    const perms = { "": "lr", "data/ab": "w" };
    expect(mayBeGrantedBelow(perms, "data", "wW")).toBe(true);
    expect(mayBeGrantedBelow(perms, "", "wW")).toBe(true);
    expect(mayBeGrantedBelow(perms, "archives", "wW")).toBe(false);
    expect(mayBeGrantedBelow(perms, "dat", "wW")).toBe(false);
    expect(mayBeGrantedBelow(undefined, "x", "wW")).toBe(true);
  });

  it("Store refuses a levels configuration deeper than MAX_NESTING_LEVELS", async () => {
    expect(() => new Store({ url: "memory:", config: { "data/": { levels: [999_999_999_999] } } })).toThrow(InvalidArgument);
    expect(() => new Store({ url: "memory:", config: { "data/": { levels: [MAX_NESTING_LEVELS + 1] } } })).toThrow(InvalidArgument);
    const store = new Store({ url: "memory:", config: { "data/": { levels: [2] } } });
    await expect(store.setLevels({ "data/": [999_999_999_999] })).rejects.toBeInstanceOf(InvalidArgument);
  });
});

describe("item operations refuse the store root and the backend's own files", () => {
  const names = [".", "", "uploads.hid/x", "quota.hid", "a/./b"];

  it.each(names)("store/load/delete/move/hash/defrag of %j raise InvalidName", async (name) => {
    const be: Backend = await opened();
    await expect(be.store(name, bytes("x"))).rejects.toBeInstanceOf(InvalidName);
    await expect(be.load(name)).rejects.toBeInstanceOf(InvalidName);
    await expect(be.delete(name)).rejects.toBeInstanceOf(InvalidName);
    await expect(be.move(name, "b")).rejects.toBeInstanceOf(InvalidName);
    await expect(be.move("a", name)).rejects.toBeInstanceOf(InvalidName);
    await expect(be.hash(name)).rejects.toBeInstanceOf(InvalidName);
    await expect(be.defrag([[name, 0, 1]], { target: "t" })).rejects.toBeInstanceOf(InvalidName);
    // An empty target means none (as in the reference): the algorithm is then missing.
    await expect(be.defrag([["a", 0, 1]], { target: name })).rejects.toBeInstanceOf(name === "" ? InvalidArgument : InvalidName);
    expect(text(await be.load("a"))).toBe("hello world");
  });

  it("list and info of the root still work; of '.' and under uploads.hid they raise InvalidName", async () => {
    const be = await opened();
    expect((await be.info("")).directory).toBe(true);
    const listed: string[] = [];
    for await (const item of be.list("")) listed.push(item.name);
    expect(listed).toEqual(["a"]);
    await expect(be.info(".")).rejects.toBeInstanceOf(InvalidName);
    await expect(be.info("uploads.hid/x")).rejects.toBeInstanceOf(InvalidName);
    await expect((async () => {
      for await (const _ of be.list("uploads.hid")) break;
    })()).rejects.toBeInstanceOf(InvalidName);
  });
});
