import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { Aborted, type ByteSource, MemoryBackend, type SizedByteSource } from "../src/index.js";
import {
  abortable,
  abortableSource,
  discardSource,
  raceAbort,
  sizedBytes,
  throwIfAborted,
  underSignal,
} from "../src/backend-kit/index.js";
import { bytes } from "./helpers.js";

function caught(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

/** An async iterator that counts what its consumer asks of it. */
function countingSource(chunks: string[]) {
  const calls = { next: 0, return: 0 };
  let at = 0;
  const iterator: AsyncIterator<Uint8Array> = {
    async next() {
      calls.next++;
      return at < chunks.length ? { done: false, value: bytes(chunks[at++] as string) } : { done: true, value: undefined };
    },
    async return() {
      calls.return++;
      return { done: true, value: undefined };
    },
  };
  return { calls, source: { [Symbol.asyncIterator]: () => iterator } as ByteSource };
}

describe("the ABORTED error", () => {
  it("names an Error reason in its message and keeps the reason as cause", () => {
    const controller = new AbortController();
    const reason = new Error("user pressed Ctrl-C");
    controller.abort(reason);
    const err = caught(() => throwIfAborted(controller.signal));
    expect(err).toBeInstanceOf(Aborted);
    expect((err as Error).message).toBe("the operation was aborted: user pressed Ctrl-C");
    expect((err as Error).cause).toBe(reason);
  });

  it("says only 'aborted' for a plain abort() or a reason that is not an Error, keeping the reason as cause", () => {
    const plain = new AbortController();
    plain.abort();
    const err = caught(() => throwIfAborted(plain.signal)) as Error;
    expect(err.message).toBe("the operation was aborted");
    expect(err.cause).toBe(plain.signal.reason);
    const textual = new AbortController();
    textual.abort("shutting down");
    const err2 = caught(() => throwIfAborted(textual.signal)) as Error;
    expect(err2.message).toBe("the operation was aborted");
    expect(err2.cause).toBe("shutting down");
  });

  it("does nothing for a missing or unfired signal", () => {
    expect(() => throwIfAborted(undefined)).not.toThrow();
    expect(() => throwIfAborted(new AbortController().signal)).not.toThrow();
  });
});

describe("underSignal", () => {
  it("turns what the work throws once the signal fired into ABORTED, keeping the failure as cause", async () => {
    const controller = new AbortController();
    const failure = new Error("connection reset");
    const err = await underSignal(controller.signal, async () => {
      controller.abort(new Error("timeout"));
      throw failure;
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Aborted);
    expect((err as Error).message).toBe("the operation was aborted: timeout");
    expect((err as Error).cause).toBe(failure);
  });

  it("passes an ABORTED from the work through unchanged, and other failures when the signal did not fire", async () => {
    const controller = new AbortController();
    const own = new Aborted("stopped by the backend");
    controller.abort();
    expect(await underSignal(new AbortController().signal, async () => Promise.reject(own)).catch((e: unknown) => e)).toBe(own);
    const live = new AbortController();
    const failure = new Error("disk full");
    expect(await underSignal(live.signal, async () => Promise.reject(failure)).catch((e: unknown) => e)).toBe(failure);
    const late = new AbortController();
    const err = await underSignal(late.signal, async () => {
      late.abort();
      throw own;
    }).catch((e: unknown) => e);
    expect(err).toBe(own);
  });
});

describe("raceAbort", () => {
  it("rejects at once for a signal that already fired, and releases the late result when it comes", async () => {
    const controller = new AbortController();
    controller.abort();
    let deliver: (value: string) => void = () => {};
    const pending = new Promise<string>((resolve) => (deliver = resolve));
    const released: string[] = [];
    const err = await raceAbort(pending, controller.signal, (late) => released.push(late)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Aborted);
    deliver("a stream nobody reads");
    await tick();
    expect(released).toEqual(["a stream nobody reads"]);
  });

  it("releases a result that arrives after the signal fired mid-way", async () => {
    const controller = new AbortController();
    let deliver: (value: string) => void = () => {};
    const pending = new Promise<string>((resolve) => (deliver = resolve));
    const released: string[] = [];
    const raced = raceAbort(pending, controller.signal, (late) => released.push(late));
    controller.abort();
    expect(await raced.catch((e: unknown) => e)).toBeInstanceOf(Aborted);
    expect(released).toEqual([]);
    deliver("late");
    await tick();
    expect(released).toEqual(["late"]);
  });

  it("never releases a result it handed to the caller, even when the signal fires afterwards", async () => {
    const controller = new AbortController();
    const released: string[] = [];
    expect(await raceAbort(Promise.resolve("mine"), controller.signal, (late) => released.push(late))).toBe("mine");
    controller.abort();
    await tick();
    expect(released).toEqual([]);
  });

  it("passes the work's own failure through, and a late failure after the abort is dropped", async () => {
    const failure = new Error("gone");
    expect(await raceAbort(Promise.reject(failure), new AbortController().signal).catch((e: unknown) => e)).toBe(failure);
    const controller = new AbortController();
    let fail: (err: Error) => void = () => {};
    const pending = new Promise<string>((_, reject) => (fail = reject));
    const raced = raceAbort(pending, controller.signal, () => {
      throw new Error("must not be called for a failure");
    });
    controller.abort();
    expect(await raced.catch((e: unknown) => e)).toBeInstanceOf(Aborted);
    fail(failure);
    await tick();
  });
});

describe("raceAbort on a long-lived signal", () => {
  it("adds one listener to a signal however many races use it, whether they succeed, fail or are aborted", async () => {
    const controller = new AbortController();
    const { signal } = controller;
    // A server's connection signal sees every request's reads: one listener for all of them.
    for (let i = 0; i < 100; i++) {
      await raceAbort(Promise.resolve(i), signal);
      await raceAbort(Promise.reject(new Error("x")), signal).catch(() => undefined);
    }
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    const raced = [raceAbort(new Promise(() => {}), signal), raceAbort(new Promise(() => {}), signal)];
    expect(getEventListeners(signal, "abort")).toHaveLength(1);
    controller.abort();
    for (const race of raced) expect(await race.catch((err: unknown) => err)).toBeInstanceOf(Aborted);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });

  it("settles only the races still waiting when the signal fires", async () => {
    const controller = new AbortController();
    let settle = (_value: number) => {};
    const settled = raceAbort(new Promise<number>((resolve) => { settle = resolve; }), controller.signal);
    settle(7);
    expect(await settled).toBe(7);
    const waiting = raceAbort(new Promise(() => {}), controller.signal);
    controller.abort();
    expect(await waiting.catch((err: unknown) => err)).toBeInstanceOf(Aborted);
  });
});

describe("abortable sources", () => {
  it("reads nothing more from the source once the signal fired, and closes it once", async () => {
    const { calls, source } = countingSource(["a", "b", "c"]);
    const controller = new AbortController();
    const iterator = abortableSource(source, controller.signal)[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    expect(await iterator.next().catch((e: unknown) => e)).toBeInstanceOf(Aborted);
    await tick();
    expect(calls).toEqual({ next: 1, return: 1 });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    await iterator.return?.();
    await tick();
    expect(calls).toEqual({ next: 1, return: 1 });
  });

  it("passes the source's own error through while the signal has not fired, and asks it for nothing more", async () => {
    const calls = { next: 0 };
    const failing: ByteSource = {
      [Symbol.asyncIterator]: () => ({
        async next(): Promise<IteratorResult<Uint8Array>> {
          calls.next++;
          throw new Error("disk read error");
        },
      }),
    };
    const iterator = abortableSource(failing, new AbortController().signal)[Symbol.asyncIterator]();
    expect(((await iterator.next().catch((e: unknown) => e)) as Error).message).toBe("disk read error");
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(calls.next).toBe(1);
  });

  it("does not ask the source again after its end", async () => {
    const { calls, source } = countingSource(["a"]);
    const iterator = abortableSource(source, new AbortController().signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    expect((await iterator.next()).done).toBe(true);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(calls.next).toBe(2);
  });

  it("stops with ABORTED when the signal fires as the source reports its end, before the consumer sees the end", async () => {
    const controller = new AbortController();
    // A source whose end arrives as a plain thenable: the signal fires right after it settled.
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          ({
            // biome-ignore lint/suspicious/noThenProperty: a thenable on purpose
            then(resolve: (step: IteratorResult<number>) => void) {
              resolve({ done: true, value: undefined });
              controller.abort();
            },
          }) as unknown as Promise<IteratorResult<number>>,
      }),
    };
    const iterator = abortable(source, controller.signal)[Symbol.asyncIterator]();
    expect(await iterator.next().catch((e: unknown) => e)).toBeInstanceOf(Aborted);
  });

  it("answers steps asked for before the last one settled, each with its own item, and ABORTED once the signal fires", async () => {
    const controller = new AbortController();
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* items() {
      yield 1;
      yield 2;
      await gate;
      yield 3;
    }
    const iterator = abortable(items(), controller.signal)[Symbol.asyncIterator]();
    const [first, second] = await Promise.all([iterator.next(), iterator.next()]);
    expect([first.value, second.value]).toEqual([1, 2]);
    const third = iterator.next();
    const fourth = iterator.next();
    controller.abort();
    expect(await third.catch((e: unknown) => e)).toBeInstanceOf(Aborted);
    expect(await fourth.catch((e: unknown) => e)).toBeInstanceOf(Aborted);
    release();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  it("closes the source when the consumer stops early (return)", async () => {
    const { calls, source } = countingSource(["a", "b"]);
    const iterator = abortableSource(source, new AbortController().signal)[Symbol.asyncIterator]();
    await iterator.next();
    expect(await iterator.return?.()).toEqual({ done: true, value: undefined });
    await tick();
    expect(calls.return).toBe(1);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(calls.next).toBe(1);
  });
});

describe("discardSource", () => {
  it("closes a source nobody will read", async () => {
    const { calls, source } = countingSource(["a"]);
    discardSource(source);
    await tick();
    expect(calls).toEqual({ next: 0, return: 1 });
  });

  it("closes the stream a backend hands out after the caller of loadStream gave up", async () => {
    let closed = false;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    class SlowToOpen extends MemoryBackend {
      protected override async _loadStream(): Promise<SizedByteSource> {
        await gate;
        const inner = sizedBytes(bytes("value"));
        return Object.assign(inner, {
          async return() {
            closed = true;
            return { done: true as const, value: undefined };
          },
        });
      }
    }
    const backend = new SlowToOpen();
    await backend.create();
    await backend.open();
    await backend.store("x", bytes("value"));
    const controller = new AbortController();
    const opening = backend.loadStream("x", { signal: controller.signal });
    controller.abort();
    expect(await opening.catch((e: unknown) => e)).toBeInstanceOf(Aborted);
    release();
    await tick();
    expect(closed).toBe(true);
  });
});
