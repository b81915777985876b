import { expect } from "vitest";
import { expectSameBytes } from "../assertions.js";
import type { Suite } from "../harness.js";
import { listNames, randomBytes } from "../helpers.js";

/** 10^0 … up to `max`, as the reference's test_scalability_size. */
export function powersOfTen(max: number): number[] {
  const sizes: number[] = [];
  for (let size = 1; size <= max; size *= 10) sizes.push(size);
  return sizes;
}

function formatSize(size: number): string {
  if (size >= 1_000_000) return `${size / 1_000_000} MB`;
  if (size >= 1_000) return `${size / 1_000} kB`;
  return `${size} B`;
}

export function registerSizeTests(suite: Suite): void {
  suite.topic("sizes and values", () => {
    for (const size of powersOfTen(suite.options.maxValueSize)) {
      suite.test(
        `a ${formatSize(size)} value round-trips byte for byte`,
        async ({ backend }) => {
          const value = randomBytes(size);
          await backend.store("key", value);
          expect((await backend.info("key")).size).toBe(size);
          expectSameBytes(await backend.load("key"), value);
        },
        { timeout: suite.options.timeout + Math.ceil(size / 1_000_000) * 1000 },
      );
    }

    suite.test("ten 1 MiB values in one namespace round-trip and list", async ({ backend }) => {
      const values = Array.from({ length: 10 }, () => randomBytes(1024 * 1024));
      for (const [i, value] of values.entries()) await backend.store(`big/${i}`, value);
      expect(await listNames(backend, "big")).toEqual(values.map((_, i) => String(i)));
      for (const [i, value] of values.entries()) expectSameBytes(await backend.load(`big/${i}`), value, `big/${i}`);
    });

    suite.test("every byte value 0–255 round-trips", async ({ backend }) => {
      const value = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
      await backend.store("bytes", value);
      expectSameBytes(await backend.load("bytes"), value);
      const reversed = value.slice().reverse();
      await backend.store("bytes", reversed);
      expectSameBytes(await backend.load("bytes"), reversed);
    });

    suite.test("values that look like text encodings or line endings are not altered", async ({ backend }) => {
      const samples = [
        Uint8Array.of(0xef, 0xbb, 0xbf, 0x61), // UTF-8 BOM
        Uint8Array.of(0xff, 0xfe, 0x61, 0x00), // UTF-16 BOM
        Uint8Array.of(0x0d, 0x0a, 0x0a, 0x0d), // CRLF, LF, CR
        Uint8Array.of(0xc3, 0x28), // invalid UTF-8
        Uint8Array.of(0x1f, 0x8b, 0x08, 0x00), // gzip magic
        Uint8Array.of(0x00),
      ];
      for (const [i, sample] of samples.entries()) await backend.store(`sample${i}`, sample);
      for (const [i, sample] of samples.entries()) expectSameBytes(await backend.load(`sample${i}`), sample, `sample${i}`);
    });

    suite.test("a subarray view stores only its own bytes", async ({ backend }) => {
      const whole = randomBytes(1000);
      const view = whole.subarray(100, 350);
      await backend.store("view", view);
      expect((await backend.info("view")).size).toBe(250);
      expectSameBytes(await backend.load("view"), whole.slice(100, 350));
    });

    suite.test("a Uint32Array stores its raw bytes (4 per element)", async ({ backend }) => {
      const words = Uint32Array.of(1, 0xdeadbeef, 0x01020304, 0xffffffff);
      await backend.store("words", words);
      expect((await backend.info("words")).size).toBe(16);
      expectSameBytes(await backend.load("words"), new Uint8Array(words.buffer));
      const middle = words.subarray(1, 3);
      await backend.store("middle", middle);
      expectSameBytes(await backend.load("middle"), new Uint8Array(words.buffer, 4, 8));
    });

    suite.test("a DataView, an ArrayBuffer and a pooled Buffer store their bytes", async ({ backend }) => {
      const bytes = randomBytes(64);
      await backend.store("dataview", new DataView(bytes.buffer, 8, 16));
      expectSameBytes(await backend.load("dataview"), bytes.slice(8, 24), "DataView");
      await backend.store("arraybuffer", new Uint8Array(bytes.subarray(0, 32)).buffer as ArrayBuffer);
      expectSameBytes(await backend.load("arraybuffer"), bytes.slice(0, 32), "ArrayBuffer");
      const pooled = Buffer.from("pooled buffer value"); // small Buffers share a pool: byteOffset ≠ 0
      await backend.store("buffer", pooled);
      expectSameBytes(await backend.load("buffer"), new Uint8Array(pooled), "Buffer");
    });

    suite.test("an empty view stores an empty value", async ({ backend }) => {
      await backend.store("empty", randomBytes(10).subarray(5, 5));
      expect(await backend.info("empty")).toMatchObject({ exists: true, size: 0 });
      expect((await backend.load("empty")).byteLength).toBe(0);
    });

    suite.test("changing the caller's buffer after store resolves does not change the stored value", async ({ backend }) => {
      const value = randomBytes(4096);
      const copy = value.slice();
      await backend.store("key", value);
      value.fill(0);
      expectSameBytes(await backend.load("key"), copy);
    });

    suite.test("changing a loaded buffer does not change the stored value", async ({ backend }) => {
      const value = randomBytes(4096);
      await backend.store("key", value);
      (await backend.load("key")).fill(0);
      expectSameBytes(await backend.load("key"), value);
    });
  });
}
