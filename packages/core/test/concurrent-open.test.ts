import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { BackendLayer } from "../src/backend-kit/index.js";
import { BackendDoesNotExist, BackendMustNotBeOpen, MemoryBackend } from "../src/index.js";

/** A memory backend whose _open takes a few turns (a session being acquired) and counts its calls. */
class SlowOpening extends MemoryBackend {
  opens = 0;
  failNext = 0;

  protected override async _open(): Promise<void> {
    this.opens++;
    for (let i = 0; i < 3; i++) await nextTurn();
    if (this.failNext > 0) {
      this.failNext--;
      throw new BackendDoesNotExist("not there this time");
    }
    await super._open();
  }
}

async function created(): Promise<SlowOpening> {
  const backend = new SlowOpening();
  await backend.create();
  return backend;
}

const outcome = (settled: PromiseSettledResult<void>) =>
  settled.status === "fulfilled" ? "opened" : (settled.reason as Error).constructor.name;

describe("open() while another open is under way", () => {
  it("waits for it, then fails as an open of an open backend does: one session is acquired", async () => {
    const backend = await created();
    const settled = await Promise.allSettled([backend.open(), backend.open(), backend.open()]);
    expect(settled.map(outcome)).toEqual(["opened", BackendMustNotBeOpen.name, BackendMustNotBeOpen.name]);
    expect(backend.opens).toBe(1);
    expect(backend.opened).toBe(true);
    await backend.close();
    await backend.open();
    expect(backend.opens).toBe(2);
    await backend.close();
  });

  it("after a failed open, the waiting one makes its own attempt", async () => {
    const backend = await created();
    backend.failNext = 1;
    const settled = await Promise.allSettled([backend.open(), backend.open()]);
    expect(settled.map(outcome)).toEqual([BackendDoesNotExist.name, "opened"]);
    expect(backend.opens).toBe(2);
    await backend.close();
  });

  it("holds for a layer: the wrapped backend is opened once", async () => {
    const backend = await created();
    const layer = new BackendLayer(backend);
    const settled = await Promise.allSettled([layer.open(), layer.open()]);
    expect(settled.map(outcome)).toEqual(["opened", BackendMustNotBeOpen.name]);
    expect(backend.opens).toBe(1);
    await layer.close();
    expect(backend.opened).toBe(false);
  });
});
