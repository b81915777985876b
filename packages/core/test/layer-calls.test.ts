import { describe, expect, it } from "vitest";
import { BackendLayer, ErrorCodes, MemoryBackend, type OperationOptions, collectBytes, isBorgStoreError } from "../src/index.js";

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
});
