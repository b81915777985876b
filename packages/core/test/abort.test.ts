import { describe, expect, it } from "vitest";
import { type ByteSource, MemoryBackend, Store, isBorgStoreError } from "../src/index.js";
import { abortableSource } from "../src/backend-kit/index.js";
import { bytes, collect, names, text } from "./helpers.js";

const CONFIG = { "data/": { levels: [1] } };

let backend: MemoryBackend;

async function openStore(): Promise<Store> {
  backend = new MemoryBackend();
  const store = new Store({ backend, config: CONFIG });
  await store.create();
  await store.open();
  return store;
}

function codeOf(err: unknown): string | undefined {
  return isBorgStoreError(err) ? err.code : undefined;
}

describe("abortableSource", () => {
  it("closes the underlying source when the signal fires while it waits for a chunk", async () => {
    let closed = false;
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    async function* slow(): ByteSource {
      try {
        yield bytes("head");
        await gate;
        yield bytes("tail");
      } finally {
        closed = true;
      }
    }
    const controller = new AbortController();
    const iterator = abortableSource(slow(), controller.signal)[Symbol.asyncIterator]();
    expect(text((await iterator.next()).value as Uint8Array)).toBe("head");
    const pending = iterator.next();
    controller.abort(new Error("user pressed Ctrl-C"));
    const err = await pending.catch((e: unknown) => e);
    expect(codeOf(err)).toBe("ABORTED");
    expect((err as Error).message).toContain("user pressed Ctrl-C");
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(closed).toBe(true);
    expect((await iterator.next()).done).toBe(true);
  });

  it("passes a source through untouched without a signal", async () => {
    const source = (async function* () {
      yield bytes("x");
    })();
    expect(abortableSource(source, undefined)).toBe(source);
  });
});

describe("Store operations with a signal", () => {
  it("an aborted storeStream stores nothing and counts nothing", async () => {
    const store = await openStore();
    const controller = new AbortController();
    async function* source(): ByteSource {
      yield bytes("first");
      controller.abort();
      yield bytes("second");
    }
    const err = await store.storeStream("data/00aa", source(), { signal: controller.signal }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe("ABORTED");
    expect((await store.info("data/00aa")).exists).toBe(false);
    expect(store.stats.store_calls).toBe(0);
    expect(await names(backend.list(""))).toEqual([]);
  });

  it("passes the signal to load, loadStream, info, hash, delete, move and list", async () => {
    const store = await openStore();
    await store.store("data/00aa", bytes("value"));
    const controller = new AbortController();
    controller.abort();
    const signal = controller.signal;
    const attempts: Array<Promise<unknown>> = [
      store.load("data/00aa", { signal }),
      store.loadStream("data/00aa", { signal }),
      store.info("data/00aa", { signal }),
      store.hash("data/00aa", { signal }),
      store.delete("data/00aa", { signal }),
      store.move("data/00aa", { delete: true, signal }),
      store.store("data/00bb", bytes("x"), { signal }),
      collect(store.list("data", { signal })),
      store.quota({ signal }),
    ];
    for (const attempt of attempts) expect(codeOf(await attempt.catch((e: unknown) => e))).toBe("ABORTED");
    expect(text(await store.load("data/00aa"))).toBe("value");
    expect(await names(store.list("data"))).toEqual(["00aa"]);
  });

  it("an aborted loadStream stops mid-way", async () => {
    const store = await openStore();
    await store.store("data/00aa", new Uint8Array(10));
    const controller = new AbortController();
    const iterator = (await store.loadStream("data/00aa", { signal: controller.signal }))[Symbol.asyncIterator]();
    controller.abort();
    expect(codeOf(await iterator.next().catch((e: unknown) => e))).toBe("ABORTED");
  });
});
