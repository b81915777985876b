import { describe, expect, it } from "vitest";
import { bytes, openBackend } from "./helpers.js";

// Calls made on the spot (syncReads, syncWrites) resolve in microtasks: without a turn of the
// event loop now and then, a caller looping over them would keep every timer, socket and
// thread-pool completion waiting until the loop ends.

const CALLS = 5_000;
/** At most this many calls in a row before a turn (256 in the source, with room). */
const BOUND = 300;

/** How many of `calls` ran before a setImmediate and a setTimeout(0) queued at the start could. */
async function callsBeforeOthersRan(call: (i: number) => Promise<unknown>): Promise<{ immediate: number; timer: number }> {
  let done = 0;
  const seen = { immediate: -1, timer: -1 };
  setImmediate(() => {
    seen.immediate = done;
  });
  setTimeout(() => {
    seen.timer = done;
  }, 0);
  for (; done < CALLS; done++) await call(done);
  await new Promise((resolve) => setTimeout(resolve, 1));
  return seen;
}

describe("PosixFsBackend's calls made on the spot", () => {
  const kinds: Array<[string, (backend: Awaited<ReturnType<typeof openBackend>>, i: number) => Promise<unknown>]> = [
    ["loads", (backend) => backend.load("v")],
    ["infos", (backend) => backend.info("v")],
    ["small stores", (backend, i) => backend.store(`s${i % 50}`, bytes(100))],
    ["deletes", (backend, i) => backend.delete(`d${i}`)],
  ];
  it.each(kinds)("let timers and immediates run within a few hundred %s in a row", async (kind, call) => {
    const backend = await openBackend();
    await backend.store("v", bytes(1000));
    if (kind === "deletes") for (let i = 0; i < CALLS; i++) await backend.store(`d${i}`, bytes(10));
    const seen = await callsBeforeOthersRan((i) => call(backend, i));
    expect(seen.immediate).toBeGreaterThanOrEqual(0);
    expect(seen.immediate).toBeLessThanOrEqual(BOUND);
    expect(seen.timer).toBeLessThanOrEqual(2 * BOUND);
    await backend.close();
  });

  it("a delete waiting for the thread pool completes while readers loop over loads", async () => {
    const backend = await openBackend();
    await backend.store("v", bytes(1000));
    await backend.store("a", bytes(10));
    await backend.store("b", bytes(10));
    let deleting = true;
    let loads = 0;
    const reader = async () => {
      while (deleting && loads < 1_000_000) {
        await backend.load("v");
        loads++;
      }
    };
    // Two at once: the second goes to the pool, whose completion needs a turn of the event loop.
    const deletes = Promise.all([backend.delete("a"), backend.delete("b")]).finally(() => {
      deleting = false;
    });
    await Promise.all([reader(), reader(), reader(), reader(), deletes]);
    expect(loads).toBeLessThan(1_000_000);
    await backend.close();
  });
});
