import type { Backend, LoadOptions } from "@borgstore/core";
import { resolveRange } from "@borgstore/core/backend";
import { expect } from "vitest";
import type { Suite } from "../harness.js";
import { chunkedSource, collect, randomBytes } from "../helpers.js";

const NAMES = ["race/a", "race/b", "race/c"];

/**
 * The values writers store: every size different, so a read's length already says which it must
 * be. The last two are large enough to stream (`largeSize` and a bit more): alternating between
 * them is what catches a stream framed with another value's size.
 */
function raceValues(largeSize: number): Uint8Array[] {
  const sizes = [1024, 17 * 1024 + 3, 64 * 1024 + 1, 300 * 1024, largeSize, largeSize + 300 * 1024 + 7];
  return sizes.map((size) => randomBytes(size));
}

/** What a read may return: the `options` slice of one stored value (the whole value without options). */
function isSliceOfAStoredValue(values: readonly Uint8Array[], options: LoadOptions, bytes: Uint8Array): boolean {
  return values.some((value) => {
    const { start, end } = resolveRange(options, value.byteLength);
    return end - start === bytes.byteLength && Buffer.from(value.buffer, value.byteOffset + start, end - start).equals(bytes);
  });
}

/** Picks one of `items`. */
function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

type Read = { kind: "load" | "loadStream"; options: LoadOptions };

/**
 * Runs readers doing `reads` for `raceMs` against two writers (store: mostly small values, every
 * third a large one; storeStream: the two large values by turns), a deleter and a mover on the
 * same few names. Every read must be one stored value's requested slice, or ObjectNotFound.
 * Returns how many reads returned bytes.
 */
async function raceReads(backend: Backend, raceMs: number, values: readonly Uint8Array[], reads: () => Read): Promise<number> {
  await backend.mkdir("race");
  for (const name of NAMES) await backend.store(name, values[0] as Uint8Array);
  const until = Date.now() + raceMs;
  const running = () => Date.now() < until;
  const small = values.slice(0, -2);
  const large = values.slice(-2);
  const wrong: string[] = [];
  let served = 0;

  const tolerateMissing = async (action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (err) {
      if ((err as { code?: string }).code !== "OBJECT_NOT_FOUND") throw err;
    }
  };
  // Lets the other actors in: a backend answering from memory never yields on its own.
  const breathe = () => new Promise((resolve) => setImmediate(resolve));

  const writer = async () => {
    for (let i = 0; running(); i++) {
      await backend.store(pick(NAMES), i % 3 === 2 ? pick(large) : pick(small));
      await breathe();
    }
  };
  const streamingWriter = async () => {
    for (let i = 0; running(); i++) {
      const value = large[i % 2] as Uint8Array;
      await backend.storeStream(pick(NAMES), chunkedSource(value, 256 * 1024), { size: value.byteLength });
      await breathe();
    }
  };
  const deleter = async () => {
    while (running()) {
      await tolerateMissing(() => backend.delete(pick(NAMES)));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  };
  const mover = async () => {
    while (running()) {
      const from = pick(NAMES);
      const to = pick(NAMES.filter((name) => name !== from));
      await tolerateMissing(() => backend.move(from, to));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  };
  const reader = async () => {
    while (running()) {
      const { kind, options } = reads();
      const name = pick(NAMES);
      await tolerateMissing(async () => {
        let bytes: Uint8Array;
        if (kind === "load") bytes = await backend.load(name, options);
        else {
          const source = await backend.loadStream(name, options);
          bytes = await collect(source);
          if (source.size !== bytes.byteLength) wrong.push(`loadStream announced ${source.size} bytes, delivered ${bytes.byteLength}`);
        }
        served++;
        if (!isSliceOfAStoredValue(values, options, bytes))
          wrong.push(`${kind}(${name}, ${JSON.stringify(options)}) returned ${bytes.byteLength} bytes that are no stored value's`);
      });
      await breathe();
    }
  };

  // Every actor is waited for, even after one failed: none may still run when the backend closes.
  const outcomes = await Promise.allSettled([writer(), streamingWriter(), deleter(), mover(), reader(), reader(), reader(), reader()]);
  for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
  expect(wrong).toEqual([]);
  return served;
}

export function registerReadRaceTests(suite: Suite): void {
  const largeSize = suite.options.streamValueSize + 4096;
  const timeout = Math.max(suite.options.timeout, suite.options.raceMs + 60_000);

  suite.topic("read races", () => {
    suite.test(
      "whole loads and loadStreams racing overwrites with values of other sizes, deletes and moves return one whole stored value or OBJECT_NOT_FOUND",
      async ({ backend }) => {
        const values = raceValues(largeSize);
        const served = await raceReads(backend, suite.options.raceMs, values, () => ({ kind: pick(["load", "loadStream"] as const), options: {} }));
        expect(served).toBeGreaterThan(0);
      },
      { timeout },
    );

    suite.test(
      "partial loads and loadStreams (offset, size, from the end) racing overwrites with values of other sizes return the right slice of one stored value",
      async ({ backend }) => {
        const values = raceValues(largeSize);
        const ranges: LoadOptions[] = [
          { offset: 100 },
          { offset: 1000, size: 20_000 },
          { offset: 70_000, size: 100 },
          { offset: -500 },
          { offset: -500, size: 100 },
          { offset: -70_000 },
        ];
        const served = await raceReads(backend, suite.options.raceMs, values, () => ({ kind: pick(["load", "loadStream"] as const), options: pick(ranges) }));
        expect(served).toBeGreaterThan(0);
      },
      { timeout },
    );

    suite.test(
      "a short slice far from the end racing overwrites with values of other sizes is taken from one stored value",
      async ({ backend }) => {
        const values = raceValues(largeSize);
        // Far enough from the end that backends ask the size first, then fetch the piece (REST and
        // S3 beyond core's TAIL_SLACK, 64 KiB, more than the slice; the small values clamp it to their start).
        const ranges: LoadOptions[] = [{ offset: -200_000, size: 100 }, { offset: -250_000, size: 70_000 }, { offset: -2_500_000, size: 100 }];
        const served = await raceReads(backend, suite.options.raceMs, values, () => ({ kind: pick(["load", "loadStream"] as const), options: pick(ranges) }));
        expect(served).toBeGreaterThan(0);
      },
      { timeout },
    );
  });
}
