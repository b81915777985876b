import { describe, expect, it } from "vitest";
import {
  BackendError,
  type ByteSource,
  ErrorCodes,
  type LoadOptions,
  MemoryBackend,
  type OperationOptions,
  type SizedByteSource,
  type StoreStreamOptions,
} from "../src/index.js";
import { sizedBytes } from "../src/backend-kit/index.js";
import { assertExists } from "../src/backend.js";
import { bytes, chunksOf, failure, names, opened, text } from "./helpers.js";

/** Records the options each primitive was called with. */
class Recording extends MemoryBackend {
  readonly seen: Array<[string, unknown]> = [];
  protected override async _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    this.seen.push(["_store", options]);
    return super._store(name, value);
  }
  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    this.seen.push(["_loadStream", options]);
    return super._loadStream(name, options);
  }
  protected override async _storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    this.seen.push(["_storeStream", { size: options.size, signal: options.signal }]);
    return super._storeStream(name, source, options);
  }
}

describe("Backend hands the caller's options to the primitives", () => {
  it("the default _storeStream passes the signal on to _store; the default _hash passes it to _loadStream", async () => {
    const be = await opened(new Recording());
    const { signal } = new AbortController();
    await be.storeStream("x", chunksOf("ab"), { signal });
    expect(be.seen).toContainEqual(["_store", { signal }]);
    await be.hash("x", "sha256", { signal });
    expect(be.seen).toContainEqual(["_loadStream", { signal }]);
  });

  it("defrag announces the result's size to storeStream (a Content-Length up front)", async () => {
    const be = await opened(new Recording());
    await be.store("a", bytes("0123456789"));
    await be.defrag([["a", 2, 3], ["a", 0, 4]], { target: "t" });
    expect(be.seen).toContainEqual(["_storeStream", { size: 7, signal: undefined }]);
    expect(text(await be.load("t"))).toBe("2340123");
  });
});

describe("Backend's checks", () => {
  it("says the backend must be open, or must not be", async () => {
    const be = new MemoryBackend();
    await be.create();
    expect(await failure(be.load("x"))).toEqual({ code: ErrorCodes.BACKEND_MUST_BE_OPEN, message: "backend must be open" });
    await be.open();
    expect(await failure(be.open())).toEqual({ code: ErrorCodes.BACKEND_MUST_NOT_BE_OPEN, message: "backend must not be open" });
  });

  it("checkStorePermission: a new name needs 'w', an existing one 'W'", async () => {
    const be = new MemoryBackend({ permissions: { "": "lrw", ro: "lr" } });
    await opened(be);
    await be.checkStorePermission("new");
    await be.store("old", bytes("1"));
    expect((await failure(be.checkStorePermission("old"))).code).toBe(ErrorCodes.PERMISSION_DENIED);
    expect((await failure(be.checkStorePermission("ro/new"))).code).toBe(ErrorCodes.PERMISSION_DENIED);
    const open = await opened(new MemoryBackend());
    await open.store("old", bytes("1"));
    await open.checkStorePermission("old");
  });

  it("create and destroy need their own letters", async () => {
    const be = new MemoryBackend({ permissions: { "": "lrwW" } });
    await be.create();
    expect((await failure(be.destroy())).code).toBe(ErrorCodes.PERMISSION_DENIED);
    const destroyer = new MemoryBackend({ permissions: { "": "D" } });
    expect(() => destroyer.checkLifecyclePermission("destroy")).not.toThrow();
    expect(() => destroyer.checkLifecyclePermission("create")).toThrow(expect.objectContaining({ code: ErrorCodes.PERMISSION_DENIED }));
  });

  it("load with a live signal returns the value", async () => {
    const be = await opened(new MemoryBackend());
    await be.store("x", bytes("value"));
    expect(text(await be.load("x", { signal: new AbortController().signal }))).toBe("value");
  });

  it("storeStream refuses an announced size that is not a non-negative integer", async () => {
    const be = await opened(new MemoryBackend());
    for (const size of [-1, 1.5, Number.NaN, 2 ** 53, "3" as unknown as number]) {
      expect(await failure(be.storeStream("x", chunksOf("abc"), { size }))).toEqual({
        code: ErrorCodes.INVALID_ARGUMENT,
        message: `size must be a non-negative integer, but got: ${size}`,
      });
    }
    await be.storeStream("x", chunksOf(), { size: 0 });
    expect((await be.info("x")).size).toBe(0);
  });

  it("ignores a stream's total that is not a number", async () => {
    class OddTotal extends MemoryBackend {
      protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
        return Object.assign(sizedBytes(await this._load(name, options)), { total: "10" }) as unknown as SizedByteSource;
      }
    }
    const be = await opened(new OddTotal());
    await be.store("x", bytes("0123456789"));
    const stream = await be.loadStream("x", { offset: 2, size: 3 });
    expect(stream.size).toBe(3);
    expect(stream.total).toBeUndefined();
  });

  it("assertExists raises ObjectNotFound for a missing item only", () => {
    expect(() => assertExists({ name: "x", exists: false, size: 0, directory: false, atime: 0 }, "ns/x")).toThrow(
      expect.objectContaining({ code: ErrorCodes.OBJECT_NOT_FOUND }),
    );
    expect(() => assertExists({ name: "x", exists: true, size: 1, directory: false, atime: 0 }, "ns/x")).not.toThrow();
  });
});

describe("Backend.defrag options", () => {
  it("needs a target or an algorithm", async () => {
    const be = await opened(new MemoryBackend());
    expect(await failure(be.defrag([], {}))).toEqual({
      code: ErrorCodes.INVALID_ARGUMENT,
      message: "Either target or algorithm must be given for defrag",
    });
  });

  it("puts a digest-named result under the namespace without its trailing slashes", async () => {
    const be = await opened(new MemoryBackend());
    await be.store("a", bytes("0123456789"));
    const name = await be.defrag([["a", 0, 10]], { algorithm: "sha256", namespace: "x/ns//" });
    expect(name).toMatch(/^x\/ns\/[0-9a-f]{64}$/);
    expect(await names(be.list("x/ns"))).toEqual([name.slice("x/ns/".length)]);
    const root = await be.defrag([["a", 0, 1]], { algorithm: "sha256" });
    expect(root).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses an invalid namespace, and one where no name may be written", async () => {
    MemoryBackend.forget("edges-defrag-ns");
    await new MemoryBackend({ name: "edges-defrag-ns" }).create();
    const be = new MemoryBackend({ name: "edges-defrag-ns", permissions: { "": "lr", out: "lrw" } });
    await be.open();
    expect((await failure(be.defrag([], { algorithm: "sha256", namespace: "../x" }))).code).toBe(ErrorCodes.INVALID_NAME);
    expect(await failure(be.defrag([], { algorithm: "sha256", namespace: "in" }))).toEqual({
      code: ErrorCodes.PERMISSION_DENIED,
      message: "One of permissions 'wW' required for names under 'in'",
    });
    expect(await be.defrag([], { algorithm: "sha256", namespace: "out" })).toMatch(/^out\/[0-9a-f]{64}$/);
    MemoryBackend.forget("edges-defrag-ns");
  });

  it("a source's own error wins over the backend's wrapping of it; the backend's own failure comes through", async () => {
    class Wrapping extends MemoryBackend {
      failStores = false;
      protected override async _storeStream(name: string, source: ByteSource): Promise<void> {
        if (this.failStores) throw new BackendError("disk full");
        try {
          return await super._storeStream(name, source);
        } catch (err) {
          throw new BackendError("upload failed", { cause: err });
        }
      }
    }
    const be = await opened(new Wrapping());
    await be.store("a", bytes("0123456789"));
    expect((await failure(be.defrag([["a", 8, 5]], { target: "t" }))).code).toBe(ErrorCodes.READ_RANGE_ERROR);
    be.failStores = true;
    expect(await failure(be.defrag([["a", 0, 5]], { target: "t" }))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "disk full" });
  });
});
