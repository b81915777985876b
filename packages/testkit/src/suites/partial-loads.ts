import type { BufferLoadOptions, LoadOptions } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode, expectSameBytes } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, randomBytes, textOf } from "../helpers.js";

/** [options, expected] over the value "0123456789". */
export const SMALL_RANGES: ReadonlyArray<[LoadOptions, string]> = [
  [{}, "0123456789"],
  [{ size: 3 }, "012"],
  [{ offset: 5 }, "56789"],
  [{ offset: 4, size: 4 }, "4567"],
  [{ offset: 0, size: 10 }, "0123456789"],
  [{ offset: 9, size: 1 }, "9"],
  [{ offset: -4 }, "6789"],
  [{ offset: -4, size: 2 }, "67"],
  [{ offset: -10 }, "0123456789"],
  [{ offset: -10, size: 9 }, "012345678"],
  [{ offset: -10, size: 1 }, "0"],
  [{ offset: -1, size: 1 }, "9"],
  // Past the end: short or empty, never an error (no 416).
  [{ offset: 8, size: 10 }, "89"],
  [{ offset: 10 }, ""],
  [{ offset: 20, size: 5 }, ""],
  [{ offset: -3, size: 10 }, "789"],
  // Size 0 is empty, also at offset 0 (the Python REST client returned everything there).
  [{ offset: 0, size: 0 }, ""],
  [{ offset: 3, size: 0 }, ""],
  [{ offset: -3, size: 0 }, ""],
  // A negative offset reaching before the start is clamped to the start.
  [{ offset: -30 }, "0123456789"],
  [{ offset: -30, size: 25 }, "0123456789"],
];

/**
 * Tail loads on a 5000-byte value around the reference REST client's thresholds: a tail fetched
 * whole and cut locally when at most 1024 bytes are unwanted, else an absolute range after info.
 */
export const TAIL_RANGES: ReadonlyArray<LoadOptions> = [
  { offset: -10, size: 9 },
  { offset: -10, size: 1 },
  { offset: -1024, size: 0 },
  { offset: -1025, size: 1 },
  { offset: -2000, size: 1000 },
  { offset: -2024, size: 1000 },
  { offset: -2025, size: 1000 },
  { offset: -3000, size: 1000 },
  { offset: -5000, size: 1 },
  { offset: -5000, size: 5000 },
  { offset: -4999 },
  { offset: 1, size: 4998 },
];

export function expectedRange(value: Uint8Array, { offset = 0, size }: LoadOptions): Uint8Array {
  const start = offset < 0 ? Math.max(0, value.byteLength + offset) : Math.min(offset, value.byteLength);
  const end = size === undefined ? value.byteLength : Math.min(value.byteLength, start + size);
  return value.slice(start, end);
}

export function registerPartialLoadTests(suite: Suite): void {
  suite.topic("partial loads", () => {
    suite.test("size, offset and negative offset select the right bytes", async ({ backend }) => {
      await backend.store("key", bytesOf("0123456789"));
      for (const [options, expected] of SMALL_RANGES)
        expect(textOf(await backend.load("key", options)), JSON.stringify(options)).toBe(expected);
    });

    suite.test("tail loads around the 1024-byte threshold select the right bytes", async ({ backend }) => {
      const value = randomBytes(5000);
      await backend.store("key", value);
      for (const options of TAIL_RANGES)
        expectSameBytes(await backend.load("key", options), expectedRange(value, options), JSON.stringify(options));
    });

    suite.test("partial loads inside a namespace and of an empty value", async ({ backend }) => {
      await backend.store("data/12/12345678", bytesOf("abcdef"));
      expect(textOf(await backend.load("data/12/12345678", { offset: -2 }))).toBe("ef");
      await backend.store("empty", new Uint8Array(0));
      for (const options of [{}, { size: 1 }, { offset: 1 }, { offset: -1 }, { offset: -1, size: 1 }])
        expect((await backend.load("empty", options)).byteLength, JSON.stringify(options)).toBe(0);
    });

    suite.test("a partial load of a 3 MB value at an odd offset", async ({ backend }) => {
      const value = randomBytes(3_000_000);
      await backend.store("big", value);
      const options = { offset: 1_234_567, size: 1_000_001 };
      expectSameBytes(await backend.load("big", options), expectedRange(value, options));
      expectSameBytes(await backend.load("big", { offset: -1_500_001 }), value.slice(1_499_999));
    });

    suite.test("a partial load of a missing object fails with OBJECT_NOT_FOUND", async ({ backend }) => {
      await expectCode(backend.load("missing", { offset: 2, size: 3 }), "OBJECT_NOT_FOUND");
      await expectCode(backend.load("missing", { offset: -2 }), "OBJECT_NOT_FOUND");
    });

    suite.test("a load into a caller's buffer returns the same bytes, in that buffer or a new one, never beyond them", async ({ backend }) => {
      const value = randomBytes(100_000);
      await backend.store("key", value);
      for (const [options, into] of [
        [{}, new Uint8Array(200_000)],
        [{}, new Uint8Array(100_000)],
        [{}, new Uint8Array(10)], // too small: a new buffer
        [{ offset: 5, size: 70_000 }, new Uint8Array(70_000)],
        [{ offset: -30 }, new Uint8Array(64)],
        [{ offset: -30, size: 0 }, new Uint8Array(64)],
      ] as Array<[BufferLoadOptions, Uint8Array]>) {
        into.fill(0xee);
        const loaded = await backend.load("key", { ...options, into });
        const what = `${JSON.stringify(options)} into ${into.byteLength}`;
        expectSameBytes(loaded, expectedRange(value, options), what);
        if (loaded.buffer === into.buffer) {
          // A view of the start of `into`, and nothing past the value's bytes was written.
          expect(loaded.byteOffset, what).toBe(into.byteOffset);
          expect(into.subarray(loaded.byteLength).every((b) => b === 0xee), what).toBe(true);
        }
      }
    });

    suite.test("a load into anything but a Uint8Array fails with INVALID_ARGUMENT", async ({ backend }) => {
      await backend.store("key", bytesOf("0123456789"));
      for (const into of [new ArrayBuffer(16), new Uint16Array(8), "buffer", 16])
        await expectCode(backend.load("key", { into } as unknown as LoadOptions), "INVALID_ARGUMENT");
      await expectCode(backend.load("missing", { into: new ArrayBuffer(16) } as unknown as LoadOptions), "INVALID_ARGUMENT");
    });

    suite.test("a non-integer offset or a negative or non-integer size fails with INVALID_ARGUMENT", async ({ backend }) => {
      await backend.store("key", bytesOf("0123456789"));
      for (const options of [{ offset: 1.5 }, { offset: Number.NaN }, { size: -1 }, { size: 2.5 }, { size: Number.POSITIVE_INFINITY }])
        await expectCode(backend.load("key", options), "INVALID_ARGUMENT");
      // Arguments are checked before storage is touched: a missing object still reports the argument.
      await expectCode(backend.load("missing", { size: -1 }), "INVALID_ARGUMENT");
    });
  });
}
