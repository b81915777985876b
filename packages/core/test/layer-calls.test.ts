import { describe, expect, it } from "vitest";
import {
  type BufferLoadOptions,
  ErrorCodes,
  type ItemInfo,
  type LoadOptions,
  MemoryBackend,
  type OperationOptions,
  type SizedByteSource,
  type StorableValue,
  Store,
  collectBytes,
  isBorgStoreError,
} from "../src/index.js";
import { BackendLayer, layerCallsOf } from "../src/backend-kit/index.js";

// A layer calls the backend it wraps through LayerCalls: the names and the signal were checked once
// by the layer's public method, but what belongs to the wrapped backend is still its own to check.

async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (err) {
    return isBorgStoreError(err) ? err.code : String(err);
  }
}

/** A layer that waits for `gate` before each store reaches its inner backend (a turn, a quota look). */
class WaitingLayer extends BackendLayer {
  gate: Promise<void> = Promise.resolve();
  protected override async _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    await this.gate;
    return super._store(name, value, options);
  }
}

describe("a layer's calls into the backend it wraps", () => {
  it("keep the wrapped backend's permissions: reads where it grants them, refusals where it does not", async () => {
    await new MemoryBackend({ name: "layer-calls-permissions" }).create();
    const memory = new MemoryBackend({ name: "layer-calls-permissions", permissions: { "": "lr", open: "lrwWD" } });
    const layer = new BackendLayer(memory);
    await layer.open();
    await layer.store("open/a", new Uint8Array([1, 2]));
    expect([...(await layer.load("open/a"))]).toEqual([1, 2]);
    expect(await codeOf(layer.store("closed", new Uint8Array([1])))).toBe(ErrorCodes.PERMISSION_DENIED);
    expect(await codeOf(layer.storeStream("closed", (async function* () {})()))).toBe(ErrorCodes.PERMISSION_DENIED);
    expect(await codeOf(layer.move("open/a", "closed"))).toBe(ErrorCodes.PERMISSION_DENIED);
    expect(await codeOf(layer.mkdir("closed-dir"))).toBe(ErrorCodes.PERMISSION_DENIED);
    expect(await codeOf(layer.delete("open/a"))).toBeUndefined();
    expect((await layer.info("open/a")).exists).toBe(false);
    await layer.close();
  });

  it("keep the wrapped backend's open state", async () => {
    const memory = new MemoryBackend();
    await memory.create();
    const layer = new BackendLayer(memory);
    expect(await codeOf(layer.load("a"))).toBe(ErrorCodes.BACKEND_MUST_BE_OPEN);
    await memory.open();
    await layer.store("a", new Uint8Array([7]));
    expect([...(await collectBytes(await layer.loadStream("a")))]).toEqual([7]);
    await memory.close();
    expect(await codeOf(layer.load("a"))).toBe(ErrorCodes.BACKEND_MUST_BE_OPEN);
  });

  it("keep the open state of a backend two layers down, which a layer between may not share", async () => {
    const memory = new MemoryBackend();
    await memory.create();
    // A layer whose own state says open while the backend below it is closed.
    class AlwaysOpen extends BackendLayer {
      override get opened(): boolean {
        return true;
      }
    }
    const layer = new BackendLayer(new AlwaysOpen(memory));
    expect(await codeOf(layer.store("a", new Uint8Array([7])))).toBe(ErrorCodes.BACKEND_MUST_BE_OPEN);
    expect(await codeOf(layer.load("a"))).toBe(ErrorCodes.BACKEND_MUST_BE_OPEN);
  });

  it("store nothing when the signal fired while the layer waited before the store", async () => {
    const memory = new MemoryBackend();
    const layer = new WaitingLayer(memory);
    await layer.create();
    await layer.open();
    let open = () => {};
    layer.gate = new Promise((resolve) => {
      open = resolve;
    });
    const controller = new AbortController();
    const storing = codeOf(layer.store("a", new Uint8Array([1]), { signal: controller.signal }));
    // The layer's public store has made its checks and waits at the gate.
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    open();
    expect(await storing).toBe(ErrorCodes.ABORTED);
    expect((await memory.info("a")).exists).toBe(false);
    await layer.close();
  });

  it("refuse invalid names at the layer's public method, once", async () => {
    const layer = new BackendLayer(new MemoryBackend());
    await layer.create();
    await layer.open();
    for (const bad of ["", "/a", "a/", "../a", "a\u0000"]) expect(await codeOf(layer.store(bad, new Uint8Array([1])))).toBe(ErrorCodes.INVALID_NAME);
    await layer.close();
  });

  it.each([
    ["without emulation", 0],
    ["with emulated latency", 1],
  ])("reach a Store's backend through its primitives (%s): the Store's stack validates each call once, at its top", async (_, latency) => {
    // Each public call here would check the name and race the signal again below the top layer.
    const publicCalls: string[] = [];
    class PublicCallsSeen extends MemoryBackend {
      override info(name: string, options?: OperationOptions): Promise<ItemInfo> {
        publicCalls.push("info");
        return super.info(name, options);
      }
      override load(name: string, options?: BufferLoadOptions): Promise<Uint8Array> {
        publicCalls.push("load");
        return super.load(name, options);
      }
      override store(name: string, value: StorableValue, options?: OperationOptions): Promise<void> {
        publicCalls.push("store");
        return super.store(name, value, options);
      }
      override delete(name: string, options?: OperationOptions): Promise<void> {
        publicCalls.push("delete");
        return super.delete(name, options);
      }
      override move(currentName: string, newName: string, options?: OperationOptions): Promise<void> {
        publicCalls.push("move");
        return super.move(currentName, newName, options);
      }
      override list(name: string, options?: OperationOptions): AsyncIterable<ItemInfo> {
        publicCalls.push("list");
        return super.list(name, options);
      }
    }
    const store = new Store({ backend: new PublicCallsSeen(), config: { "data/": { levels: [1] } }, latency, bandwidth: 0 });
    await store.create();
    await store.open();
    publicCalls.length = 0;
    const signal = new AbortController().signal;
    await store.store("data/0123", new Uint8Array([1, 2, 3]), { signal });
    expect([...(await store.load("data/0123", { signal }))]).toEqual([1, 2, 3]);
    expect([...(await collectBytes(await store.loadStream("data/0123")))]).toEqual([1, 2, 3]);
    expect((await store.info("data/0123")).size).toBe(3);
    expect((await store.info("data/0123", { signal })).size).toBe(3);
    expect(await store.hash("data/0123")).toMatch(/^[0-9a-f]{64}$/);
    const listed: string[] = [];
    for await (const item of store.list("data")) listed.push(item.name);
    expect(listed).toEqual(["0123"]);
    await store.move("data/0123", { delete: true });
    await store.delete("data/0123", { deleted: true });
    expect(publicCalls).toEqual([]);
    expect(store.stats.info_calls).toBe(2);
    await store.close();
  });

  it("hand a Store the source of a backend that does not announce its size, sized and counted", async () => {
    class UnsizedStreams extends MemoryBackend {
      protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
        const data = await this._load(name, options);
        // A backend written before sources carried their size.
        return (async function* () {
          yield data.subarray(0, 1);
          yield data.subarray(1);
        })() as unknown as SizedByteSource;
      }
    }
    for (const latency of [0, 1]) {
      const store = new Store({ backend: new UnsizedStreams(), config: { "data/": { levels: [0] } }, latency, bandwidth: 0 });
      await store.create();
      await store.open();
      await store.store("data/a", new Uint8Array([1, 2, 3]));
      const source = await store.loadStream("data/a");
      expect(source.size).toBe(3);
      expect([...(await collectBytes(source))]).toEqual([1, 2, 3]);
      expect(store.stats.load_volume).toBe(3);
      await store.close();
    }
  });

  it("refuse with a rejected promise, never a throw in the call: a closed backend, a denied name, a primitive that throws at once", async () => {
    class ThrowsAtOnce extends MemoryBackend {
      protected override _info(): Promise<ItemInfo> {
        throw new Error("info at once");
      }
      protected override _store(): Promise<void> {
        throw new Error("store at once");
      }
    }
    const closed = layerCallsOf(new MemoryBackend());
    const value = new Uint8Array([1]);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["info", () => closed.info("a")],
      ["load", () => closed.load("a", {})],
      ["loadStream", () => closed.loadStream("a", {})],
      ["store", () => closed.store("a", value)],
      ["storeStream", () => closed.storeStream("a", (async function* () {})())],
      ["delete", () => closed.delete("a")],
      ["move", () => closed.move("a", "b")],
      ["mkdir", () => closed.mkdir("d")],
      ["rmdir", () => closed.rmdir("d")],
      ["hash", () => closed.hash("a", "sha256")],
      ["quota", () => closed.quota()],
    ];
    for (const [what, call] of calls) {
      let pending: Promise<unknown> | undefined;
      expect(() => (pending = call()), what).not.toThrow();
      expect(await codeOf(pending as Promise<unknown>), what).toBe(ErrorCodes.BACKEND_MUST_BE_OPEN);
    }
    await new MemoryBackend({ name: "layer-calls-reject" }).create();
    const denied = new MemoryBackend({ name: "layer-calls-reject", permissions: { "": "x" } });
    await denied.open();
    const deniedCalls = layerCallsOf(denied);
    for (const call of [() => deniedCalls.info("a"), () => deniedCalls.store("a", value), () => deniedCalls.delete("a")]) {
      let pending: Promise<unknown> | undefined;
      expect(() => (pending = call())).not.toThrow();
      expect(await codeOf(pending as Promise<unknown>)).toBe(ErrorCodes.PERMISSION_DENIED);
    }
    await denied.close();
    const throwing = new ThrowsAtOnce();
    await throwing.create();
    await throwing.open();
    const throwingCalls = layerCallsOf(throwing);
    let info: Promise<unknown> | undefined;
    let store: Promise<unknown> | undefined;
    expect(() => (info = throwingCalls.info("a"))).not.toThrow();
    expect(() => (store = throwingCalls.store("a", value))).not.toThrow();
    expect(await codeOf(info as Promise<unknown>)).toBe("Error: info at once");
    expect(await codeOf(store as Promise<unknown>)).toBe("Error: store at once");
    await throwing.close();
  });
});
