import { MemoryBackend, PermissionDenied, QuotaExceeded, type Permissions } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { PermissionView } from "../src/hosting/permission-view.js";
import { UsageLayer, measure } from "../src/hosting/usage-layer.js";
import { type QuotaLimits, UserUsage } from "../src/hosting/usage.js";
import { HttpError } from "../src/http-error.js";

// A hosting repository's store as router.ts stacks it (PermissionView over UsageLayer over the
// repository's backend), here over a MemoryBackend and without a server: append-only's retries and
// refusals and the figures' bookkeeping, which the hosting tests reach through a CLI child only.

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield Buffer.from(part);
}

async function repository(limits: QuotaLimits = {}) {
  const backend = new MemoryBackend();
  const user = new UserUsage("alice");
  const usage = user.repo("laptop");
  const lifecycle: string[] = [];
  const store = new UsageLayer(backend, usage, () => limits, async (event) => void lifecycle.push(event));
  await store.create();
  await store.open();
  const overwrites: string[] = [];
  const view = (permissions?: Permissions) => {
    const v = new PermissionView(store, permissions, () => overwrites.push("overwrite"));
    return v;
  };
  return { backend, user, usage, store, lifecycle, overwrites, view };
}

const APPEND_ONLY: Permissions = { "": "lrw" };

async function denied(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PermissionDenied) return err.message;
    throw err;
  }
  return "allowed";
}

describe("hosting store layers: append-only (PermissionView)", () => {
  it("stores a new name, takes the identical value again without writing, and refuses a different one as the reference refuses an overwrite", async () => {
    const { usage, overwrites, view } = await repository();
    const appendOnly = view(APPEND_ONLY);
    await appendOnly.store("data/a", Buffer.from("one"));
    expect(usage).toMatchObject({ bytes: 3, objects: 1 });
    await appendOnly.store("data/a", Buffer.from("one"));
    expect(usage).toMatchObject({ bytes: 3, objects: 1 });
    expect(overwrites).toEqual([]);
    expect(await denied(appendOnly.store("data/a", Buffer.from("two")))).toBe("One of permissions 'W' required for 'data/a'");
    // Same size, other bytes: still different.
    expect(await denied(appendOnly.store("data/a", Buffer.from("onf")))).toBe("One of permissions 'W' required for 'data/a'");
    expect(overwrites).toEqual(["overwrite", "overwrite"]);
    expect(Buffer.from(await appendOnly.load("data/a")).toString()).toBe("one");
    expect(usage).toMatchObject({ bytes: 3, objects: 1 });
  });

  it("streamed: a new name counts its streamed bytes; the identical stream again is a retry, one of another size or content is refused", async () => {
    const { usage, overwrites, view } = await repository();
    const appendOnly = view(APPEND_ONLY);
    await appendOnly.storeStream("data/s", chunks("ab", "cd"), { size: 4 });
    expect(usage).toMatchObject({ bytes: 4, objects: 1 });
    await appendOnly.storeStream("data/s", chunks("a", "bcd"), { size: 4 });
    await appendOnly.storeStream("data/s", chunks("abcd"));
    expect(usage).toMatchObject({ bytes: 4, objects: 1 });
    expect(overwrites).toEqual([]);
    expect(await denied(appendOnly.storeStream("data/s", chunks("abcx"), { size: 4 }))).toMatch(/'W' required for 'data\/s'/);
    expect(await denied(appendOnly.storeStream("data/s", chunks("abcde")))).toMatch(/'W' required/);
    expect(overwrites).toHaveLength(2);
    expect(Buffer.from(await appendOnly.load("data/s")).toString()).toBe("abcd");
  });

  it("a login with W (or no permissions at all) overwrites, and is told of it; without w, no store", async () => {
    const { usage, overwrites, view } = await repository();
    for (const permissions of [undefined, {}, { "": "lrwWD" }] as Array<Permissions | undefined>) {
      const owner = view(permissions);
      await owner.store("data/o", Buffer.from("first"));
      await owner.store("data/o", Buffer.from("second!"));
      await owner.storeStream("data/o", chunks("third", "!!"), { size: 7 });
      expect(Buffer.from(await owner.load("data/o")).toString()).toBe("third!!");
      await owner.delete("data/o");
    }
    expect(overwrites).toHaveLength(6);
    expect(usage).toMatchObject({ bytes: 0, objects: 0 });
    const reader = view({ "": "lr" });
    expect(await denied(reader.store("data/r", Buffer.from("x")))).toMatch(/'wW' required/);
    expect(await denied(reader.checkStorePermission("data/r"))).toMatch(/'wW' required/);
    // Append-only names pass the early check, existing or not (the store decides once it has the value).
    const appendOnly = view({ "": "lr", data: "lrw" });
    await appendOnly.store("data/x", Buffer.from("x"));
    expect(await denied(appendOnly.checkStorePermission("data/x"))).toBe("allowed");
    expect(await denied(appendOnly.checkStorePermission("config/x"))).toMatch(/'wW' required/);
    expect(await denied(appendOnly.store("config/x", Buffer.from("x")))).toMatch(/'wW' required for 'config\/x'/);
  });

  it("append-only in one namespace only: W elsewhere overwrites as usual", async () => {
    const { overwrites, view } = await repository();
    const mixed = view({ "": "lrwW", data: "lrw" });
    await mixed.store("config/c", Buffer.from("1"));
    await mixed.store("config/c", Buffer.from("22"));
    expect(Buffer.from(await mixed.load("config/c")).toString()).toBe("22");
    await mixed.store("data/d", Buffer.from("1"));
    expect(await denied(mixed.store("data/d", Buffer.from("22")))).toMatch(/'W' required for 'data\/d'/);
    expect(overwrites).toEqual(["overwrite", "overwrite"]);
  });

  it("refuses invalid names and a closed store before anything else", async () => {
    const { store, view } = await repository();
    const appendOnly = view(APPEND_ONLY);
    await expect(appendOnly.store("../x", Buffer.from("x"))).rejects.toThrow(/must be relative/);
    await expect(appendOnly.storeStream("../x", chunks("x"))).rejects.toThrow(/must be relative/);
    expect(() => appendOnly.checkStorePermission("../x")).toThrow(/must be relative/);
    await store.close();
    await expect(appendOnly.store("data/n", Buffer.from("x"))).rejects.toThrow("backend must be open");
    await expect(appendOnly.storeStream("data/n", chunks("x"))).rejects.toThrow("backend must be open");
  });

  it("a move onto a name append-only may add: allowed while it holds nothing, refused (and told) once it does", async () => {
    const { usage, view } = await repository();
    const appendOnly = view({ "": "lrwD" });
    await appendOnly.store("data/a", Buffer.from("aa"));
    await appendOnly.store("data/b", Buffer.from("bbb"));
    await appendOnly.move("data/a", "data/c");
    expect((await appendOnly.info("data/a")).exists).toBe(false);
    expect(await denied(appendOnly.move("data/b", "data/c"))).toBe("One of permissions 'W' required for 'data/c'");
    expect(usage).toMatchObject({ bytes: 5, objects: 2 });
  });

  it("create and destroy follow the view's own permissions (D to destroy, w or W to create)", async () => {
    const { view } = await repository();
    expect(() => view({ "": "lrw" }).checkLifecyclePermission("destroy")).toThrow(PermissionDenied);
    expect(() => view({ "": "lrwD" }).checkLifecyclePermission("destroy")).not.toThrow();
    expect(() => view({ "": "lr" }).checkLifecyclePermission("create")).toThrow(PermissionDenied);
    expect(() => view({ "": "lrw" }).checkDefragTarget({ target: "data/t" })).not.toThrow();
    expect(() => view({ "": "lr" }).checkDefragTarget({ target: "data/t" })).toThrow(PermissionDenied);
  });

  it("defrag through the view: its result stored as a store is (no overwrite without W), its size reserved against the quota", async () => {
    const { usage, view } = await repository({ repo: 10 });
    const appendOnly = view(APPEND_ONLY);
    await appendOnly.store("data/a", Buffer.from("abcd"));
    expect(await appendOnly.defrag([["data/a", 1, 2]], { target: "data/t" })).toBe("data/t");
    expect(Buffer.from(await appendOnly.load("data/t")).toString()).toBe("bc");
    expect(usage).toMatchObject({ bytes: 6, objects: 2, reserved: 0 });
    expect(await denied(appendOnly.defrag([["data/a", 0, 3]], { target: "data/t" }))).toMatch(/'W' required for 'data\/t'/);
    // 6 stored + 4 reserved fits 10; 5 does not.
    await expect(appendOnly.defrag([["data/a", 0, 4]], { target: "data/u" })).resolves.toBe("data/u");
    await expect(view().defrag([["data/a", 0, 1]], { target: "data/v" })).rejects.toThrow(QuotaExceeded);
    expect(usage.reserved).toBe(0);
  });
});

describe("hosting store layers: the figures (UsageLayer)", () => {
  it("counts stores, overwrites, streamed stores, deletes and moves to the byte, and create and destroy reset them", async () => {
    const { store, usage, lifecycle } = await repository();
    expect(lifecycle).toEqual(["create"]);
    await store.store("data/a", Buffer.from("12345"));
    await store.store("data/a", Buffer.from("12"));
    await store.storeStream("data/b", chunks("xyz", "w"), { size: 4 });
    await store.storeStream("data/b", chunks("x"), { size: 1 });
    expect(usage).toMatchObject({ bytes: 3, objects: 2 });
    expect(usage.lastWrite).toBeGreaterThan(0);
    await store.delete("data/b");
    expect(usage).toMatchObject({ bytes: 2, objects: 1 });
    await expect(store.delete("data/none")).rejects.toThrow();
    expect(usage).toMatchObject({ bytes: 2, objects: 1 });
    await store.store("data/c", Buffer.from("cccc"));
    // A move onto an object replaces it: its bytes and object go.
    await store.move("data/a", "data/c");
    expect(usage).toMatchObject({ bytes: 2, objects: 1 });
    // Onto a free name, and onto its own name spelled with a doubled slash: nothing replaced.
    await store.move("data/c", "data/d");
    await store.move("data/d", "data//d");
    expect(usage).toMatchObject({ bytes: 2, objects: 1 });
    await store.close();
    await store.destroy();
    expect(lifecycle).toEqual(["create", "destroy"]);
    expect(usage).toMatchObject({ bytes: 0, objects: 0, lastWrite: undefined });
    await store.create();
    expect(usage).toMatchObject({ bytes: 0, objects: 0 });
  });

  it("moves a directory alone, its objects with it, figures unchanged", async () => {
    const { store, usage } = await repository();
    await store.store("data/dir/x", Buffer.from("xx"));
    await store.store("data/dir/y", Buffer.from("yyy"));
    await store.move("data/dir", "data/moved");
    expect((await store.info("data/moved/y")).size).toBe(3);
    expect(usage).toMatchObject({ bytes: 5, objects: 2 });
  });

  it("a directory's move waits for the stores in progress and gives way (503, Retry-After) after 2 s", async () => {
    const { store } = await repository();
    await store.store("data/dir/x", Buffer.from("xx"));
    let finish = () => {};
    const held = new Promise<void>((resolve) => (finish = resolve));
    const slow = store.storeStream("data/other", (async function* () {
      yield Buffer.from("a");
      await held;
    })());
    await new Promise((resolve) => setTimeout(resolve, 20));
    // An object's move goes at once beside it (in its names' turns): only a directory's waits.
    let started = performance.now();
    await store.move("data/dir/x", "data/dir/y");
    expect(performance.now() - started).toBeLessThan(1000);
    started = performance.now();
    const error = await store.move("data/dir", "data/moved").catch((err: unknown) => err);
    expect(performance.now() - started).toBeGreaterThan(1900);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 503, headers: { "Retry-After": "1" } });
    expect((error as Error).message).toMatch(/directory's move waits/);
    finish();
    await slow;
  });

  it("answers quota from the repository's limit, else the user's over all their repositories, else -1", async () => {
    const limits: QuotaLimits = {};
    const { store, user } = await repository();
    const layer = new UsageLayer(new MemoryBackend(), user.repo("other"), () => limits, async () => {});
    await layer.create();
    await layer.open();
    await store.store("a", Buffer.from("123"));
    await layer.store("b", Buffer.from("12"));
    expect(await layer.quota()).toEqual({ limit: -1, usage: -1 });
    limits.user = 100;
    expect(await layer.quota()).toEqual({ limit: 100, usage: 5 });
    limits.repo = 50;
    expect(await layer.quota()).toEqual({ limit: 50, usage: 2 });
    // Over the limit: refused before anything is written, reservation given back.
    limits.repo = 3;
    await expect(layer.withReserved(2, async () => "never")).rejects.toThrow(QuotaExceeded);
    expect(await layer.withReserved(1, async () => "ran")).toBe("ran");
    await expect(layer.withReserved(1, async () => Promise.reject(new Error("task")))).rejects.toThrow("task");
    expect(user.repo("other").reserved).toBe(0);
    // Its own defrag reserves the result's size before reading the sources, and counts it once stored.
    await expect(layer.defrag([["b", 0, 2]], { target: "c" })).rejects.toThrow(QuotaExceeded);
    limits.repo = 4;
    expect(await layer.defrag([["b", 0, 2]], { target: "c" })).toBe("c");
    expect(user.repo("other")).toMatchObject({ bytes: 4, objects: 2, reserved: 0 });
  });

  it("addOnly answers stored, same or different, counting only what it stored", async () => {
    const { store, usage } = await repository();
    const write = (bytes: string) => (inner: Parameters<Parameters<UsageLayer["addOnly"]>[1]>[0]) => inner.store("n", Buffer.from(bytes));
    expect(await store.addOnly("n", write("abc"), () => 3, async () => true)).toBe("stored");
    expect(usage).toMatchObject({ bytes: 3, objects: 1 });
    const sizes: number[] = [];
    expect(await store.addOnly("n", write("zz"), () => 2, async (size) => {
        sizes.push(size);
        return true;
      })).toBe("same");
    expect(await store.addOnly("n", write("zz"), () => 2, async () => false)).toBe("different");
    expect(sizes).toEqual([3]);
    expect(usage).toMatchObject({ bytes: 3, objects: 1 });
  });

  it("measure walks the whole repository: bytes and objects in every directory", async () => {
    const { backend, store } = await repository();
    await store.store("config/c", Buffer.from("1"));
    await store.store("data/00/a", Buffer.from("22"));
    await store.store("data/00/b", Buffer.from("333"));
    await store.store("data/01/c", Buffer.from("4444"));
    await store.mkdir("data/02");
    expect(await measure(backend)).toEqual({ bytes: 10, objects: 4 });
    const aborted = AbortSignal.abort();
    await expect(measure(backend, aborted)).rejects.toThrow();
  });
});
