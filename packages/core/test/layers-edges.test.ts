import { describe, expect, it } from "vitest";
import { type DefragOptions, ErrorCodes, InvalidArgument, MemoryBackend } from "../src/index.js";
import { BackendLayer, type CheckedDefragSources, CountingLayer, EmulationLayer, Emulation } from "../src/backend-kit/index.js";
import { bytes, chunksOf, collect, failure, opened, text } from "./helpers.js";

// What the layers add to the Backend they wrap, seen through their public Backend methods
// (the corners mutation testing showed no test looked at).

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

/** A memory backend that defrags on its own (as a server does), and says how often it did. */
class DefraggingMemory extends MemoryBackend {
  defrags = 0;
  protected override _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    this.defrags += 1;
    return super._defrag(sources, options);
  }
}

describe("BackendLayer", () => {
  it("reports the inner backend's location and asks it for store, lifecycle and defrag-target permissions", async () => {
    const name = `layers-edges-permissions-${process.pid}`;
    await new MemoryBackend({ name }).create();
    const inner = new MemoryBackend({ name, permissions: { "": "lr", open: "lrwW" } });
    const layer = new BackendLayer(inner);
    expect(layer.location).toBe(`memory://${name}`);
    expect(new BackendLayer(new MemoryBackend()).location).toBe("memory:");
    expect(() => layer.checkLifecyclePermission("destroy")).toThrow(expect.objectContaining({ code: ErrorCodes.PERMISSION_DENIED }));
    expect(() => layer.checkDefragTarget({ target: "closed" })).toThrow(expect.objectContaining({ code: ErrorCodes.PERMISSION_DENIED }));
    expect(() => layer.checkDefragTarget({})).toThrow(InvalidArgument);
    layer.checkDefragTarget({ target: "open/x" });
    await layer.open();
    expect((await failure(layer.checkStorePermission("closed"))).code).toBe(ErrorCodes.PERMISSION_DENIED);
    await layer.checkStorePermission("open/x");
    await layer.close();
    MemoryBackend.forget(name);
  });

  it("removes directories in the inner backend", async () => {
    const inner = await opened();
    const layer = new BackendLayer(inner);
    await layer.mkdir("d");
    expect((await inner.info("d")).directory).toBe(true);
    await layer.rmdir("d");
    expect((await inner.info("d")).exists).toBe(false);
  });

  it("hands a defrag to the inner backend's own, but raises a bad later source's error and stores nothing", async () => {
    const inner = new DefraggingMemory();
    await inner.create();
    await inner.open();
    const layer = new BackendLayer(inner);
    await layer.store("a", bytes("hello"));
    await layer.store("b", bytes("world"));
    const options: DefragOptions = { target: "t" };
    expect(
      await layer.defrag(
        [
          ["a", 1, 3],
          ["b", 0, 2],
        ],
        options,
      ),
    ).toBe("t");
    expect(text(await inner.load("t"))).toBe("ellwo");
    expect(inner.defrags).toBe(1);
    const bad = await failure(
      layer.defrag(
        [
          ["a", 0, 1],
          ["../b", 0, 1],
        ],
        { target: "u" },
      ),
    );
    expect(bad.code).toBe(ErrorCodes.INVALID_NAME);
    expect((await inner.info("u")).exists).toBe(false);
    expect(inner.defrags).toBe(1);
  });
});

describe("CountingLayer's writes", () => {
  it("a store, delete or move the backend below completed stands when the signal fires just after: done and counted, never ABORTED", async () => {
    const controller = new AbortController();
    // The signal fires once the write below has taken effect, before the layer looks at it.
    class AbortsAfterWriting extends MemoryBackend {
      protected override async _store(name: string, value: Uint8Array): Promise<void> {
        await super._store(name, value);
        controller.abort();
      }
    }
    const inner = new AbortsAfterWriting();
    await inner.create();
    await inner.open();
    const layer = new CountingLayer(inner);
    await layer.store("a", bytes("x"), { signal: controller.signal });
    expect(text(await layer.load("a"))).toBe("x");
    expect(layer.counts.operations.store).toMatchObject({ succeeded: 1, failed: 0 });
    expect(layer.counts.storeVolume).toBe(1);
  });
});

describe("CountingLayer's list", () => {
  it("counts a list that ends as succeeded, with the seconds its caller waited for items", async () => {
    const inner = await opened();
    await inner.store("d/a", bytes("x"));
    await inner.store("d/b", bytes("y"));
    // 20 ms before the first entry: a list's seconds are at least that, and at most what the caller waited.
    const layer = new CountingLayer(new EmulationLayer(inner, { latency: 20_000 }));
    let items: unknown[] = [];
    const elapsed = await timed(async () => {
      items = await collect(layer.list("d"));
    });
    expect(items).toHaveLength(2);
    const count = layer.counts.operations.list;
    expect(count.succeeded).toBe(1);
    expect(count.failed).toBe(0);
    expect(count.seconds).toBeGreaterThanOrEqual(0.019);
    expect(count.seconds).toBeLessThanOrEqual(elapsed + 0.001);
  });

  it("with countLists false hands a listing through uncounted (the inner's items, its errors), still counting the rest", async () => {
    const inner = await opened();
    await inner.store("d/a", bytes("x"));
    const layer = new CountingLayer(inner, { countLists: false });
    expect((await collect(layer.list("d"))).map((item) => item.name)).toEqual(["a"]);
    expect((await failure(collect(layer.list("missing")))).code).toBe(ErrorCodes.OBJECT_NOT_FOUND);
    expect(layer.counts.operations.list).toEqual({ succeeded: 0, failed: 0, seconds: 0 });
    await layer.load("d/a");
    expect(layer.counts.operations.load.succeeded).toBe(1);
    // The default counts them.
    const counting = new CountingLayer(inner);
    await collect(counting.list("d"));
    expect(counting.counts.operations.list.succeeded).toBe(1);
  });

  it("counts a list that throws as failed, adding no seconds", async () => {
    const layer = new CountingLayer(await opened());
    expect((await failure(collect(layer.list("missing")))).code).toBe(ErrorCodes.OBJECT_NOT_FOUND);
    const count = layer.counts.operations.list;
    expect(count).toEqual({ succeeded: 0, failed: 1, seconds: 0 });
  });
});

describe("EmulationLayer", () => {
  it("takes latency and bandwidth from its options", async () => {
    const layer = new EmulationLayer(await opened(), { latency: 30_000, bandwidth: 8_000 });
    expect(layer.emulation.latency).toBeCloseTo(0.03);
    expect(layer.emulation.bandwidth).toBe(1000);
    expect(new EmulationLayer(await opened()).emulation.active).toBe(false);
  });

  it("stretches a call that moves no bytes to the latency also when a bandwidth is set", async () => {
    const inner = await opened();
    await inner.store("a", bytes("x"));
    const layer = new EmulationLayer(inner, { latency: 30_000, bandwidth: 8_000_000 });
    expect(await timed(() => layer.info("a"))).toBeGreaterThanOrEqual(0.029);
    expect(await timed(() => layer.delete("a"))).toBeGreaterThanOrEqual(0.029);
  });

  it("paces a storeStream by the bytes that passed: 100 bytes at 8000 bit/s take 0.1 s", async () => {
    const layer = new EmulationLayer(await opened(), { bandwidth: 8_000 });
    const seconds = await timed(() => layer.storeStream("s", chunksOf("x".repeat(40), "y".repeat(60))));
    expect(seconds).toBeGreaterThanOrEqual(0.099);
    expect(seconds).toBeLessThan(10);
  });

  it("names the setting and the value it refuses", () => {
    expect(() => new Emulation(-1, 0)).toThrow("BORGSTORE_LATENCY must be a number >= 0, but got: -1");
    expect(() => new Emulation(0, Number.NaN)).toThrow("BORGSTORE_BANDWIDTH must be a number >= 0, but got: NaN");
  });
});
