import { describe, expect, it } from "vitest";
import { CountingLayer } from "../src/backend-kit/index.js";
import { type ItemInfo, MemoryBackend, Store } from "../src/index.js";

// list() is no async generator (a wrapping generator level cost a listing a promise turn per
// item): what a generator gave for free is checked here. Its checks run at the first step, not at
// the call; a caller that stops before the first step runs nothing; after a failed first step,
// the iterator is done.

/** A memory backend that counts the listings its primitive started. */
class ListCounting extends MemoryBackend {
  started = 0;
  protected override _list(name: string): AsyncIterable<ItemInfo> {
    this.started++;
    return super._list(name);
  }
}

const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (err: { code?: string }) => err.code);

describe("list checks at its first step", () => {
  it("a closed backend's list throws nothing at the call, fails its first step, and is done after it", async () => {
    const backend = new MemoryBackend();
    const items = backend.list("")[Symbol.asyncIterator]();
    expect(await codeOf(items.next())).toBe("BACKEND_MUST_BE_OPEN");
    expect(await items.next()).toEqual({ done: true, value: undefined });
  });

  it("an invalid name, a fired signal and a layer over a closed backend fail the first step", async () => {
    const backend = new MemoryBackend();
    await backend.create();
    const layer = new CountingLayer(backend);
    await layer.open();
    await backend.close();
    expect(await codeOf(layer.list("")[Symbol.asyncIterator]().next())).toBe("BACKEND_MUST_BE_OPEN");
    await backend.open();
    expect(await codeOf(layer.list("../x")[Symbol.asyncIterator]().next())).toBe("INVALID_NAME");
    const fired = AbortSignal.abort();
    expect(await codeOf(layer.list("", { signal: fired })[Symbol.asyncIterator]().next())).toBe("ABORTED");
  });

  it("a listing closed before its first step starts nothing, through layers and the Store", async () => {
    const backend = new ListCounting();
    const store = new Store({ backend, config: { "data/": { levels: [0] } } });
    await store.create();
    await store.open();
    await store.store("data/k", new Uint8Array(1));
    const unread = [backend.list("data"), new CountingLayer(backend).list("data"), store.list("data")];
    for (const listing of unread) expect(await listing[Symbol.asyncIterator]().return?.()).toEqual({ done: true, value: undefined });
    expect(backend.started).toBe(0);
    expect(store.stats.list_calls).toBe(0);
    const names: string[] = [];
    for await (const item of store.list("data")) names.push(item.name);
    expect([names, backend.started, store.stats.list_calls]).toEqual([["k"], 1, 1]);
    await store.close();
  });

  it("each step is the source's own: items come in order and the end repeats", async () => {
    const backend = new MemoryBackend();
    await backend.create();
    await backend.open();
    for (const name of ["c", "a", "b"]) await backend.store(name, new Uint8Array(1));
    const items = backend.list("")[Symbol.asyncIterator]();
    const steps = [await items.next(), await items.next(), await items.next(), await items.next(), await items.next()];
    expect(steps.map((s) => (s.done ? "end" : s.value.name))).toEqual(["a", "b", "c", "end", "end"]);
  });
});
