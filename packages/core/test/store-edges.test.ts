import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ErrorCodes, MemoryBackend, Store } from "../src/index.js";
import { bytes, collect, names } from "./helpers.js";

async function opened(config = { "data/": { levels: [1] } }): Promise<{ store: Store; backend: MemoryBackend }> {
  const backend = new MemoryBackend();
  const store = new Store({ backend, config });
  await store.create();
  await store.open();
  return { store, backend };
}

describe("Store: what its errors say", () => {
  it("names the missing backend, the double cache and the bad read-ahead", () => {
    expect(() => new Store({ config: { "": { levels: [0] } } })).toThrow("You need to give a backend instance or a backend url.");
    expect(
      () => new Store({ backend: new MemoryBackend(), cacheUrl: "memory:", cacheBackend: new MemoryBackend(), config: { "": { levels: [0] } } }),
    ).toThrow("Give either cacheUrl or cacheBackend, not both.");
    expect(() => new Store({ backend: new MemoryBackend(), config: { "data/": { levels: [0], cache: "mirror" } } })).toThrow(
      "Cache mode mirror for namespace 'data/' needs a cacheUrl or cacheBackend.",
    );
    expect(() => new Store({ backend: new MemoryBackend(), config: { "": { levels: [0] } }, listReadAhead: 0 })).toThrow(
      "listReadAhead must be an integer >= 1, but got: 0",
    );
  });

  it("setLevels refuses an empty or non-object configuration", async () => {
    const { store } = await opened();
    for (const levels of [{}, null, "data/"])
      await expect(store.setLevels(levels as never)).rejects.toMatchObject({
        code: ErrorCodes.INVALID_ARGUMENT,
        message: "No or invalid levels configuration given.",
      });
  });
});

describe("Store.setLevels", () => {
  it("creates the nesting directories only when asked to", async () => {
    const { store, backend } = await opened();
    await store.setLevels({ "meta/": [1] });
    expect(await names(backend.list(""))).toEqual([]);
    await store.setLevels({ "meta/": [1] }, true);
    expect(await collect(backend.list("meta"))).toHaveLength(256);
  });
});

describe("Store shows its URL without credentials", () => {
  it("in util.inspect and JSON, and says so when it has none", () => {
    const withUrl = new Store({ url: "sftp://user:secret@host/repo", config: { "": { levels: [0] } } });
    expect(inspect(withUrl)).toBe('Store { url: "sftp://***@host/repo" }');
    expect(JSON.stringify(withUrl)).toBe('{"url":"sftp://***@host/repo"}');
    const withoutUrl = new Store({ backend: new MemoryBackend(), config: { "": { levels: [0] } } });
    expect(inspect(withoutUrl)).toBe("Store { url: undefined }");
    expect(JSON.stringify(withoutUrl)).toBe("{}");
  });
});

describe("Store.list", () => {
  it("lists a namespace given with trailing slashes", async () => {
    const { store } = await opened();
    await store.store("data/00aa", bytes("x"));
    expect(await names(store.list("data//"))).toEqual(["00aa"]);
  });
});

describe("Store statistics of a streamed load", () => {
  it("count the backend's loaded volume as the chunks pass", async () => {
    const { store } = await opened();
    await store.store("data/00aa", bytes("12345"));
    await collect(await store.loadStream("data/00aa"));
    expect(store.stats.backend_load_volume).toBe(5);
    expect(store.stats.backend_load_calls).toBe(1);
  });
});
