import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { BackendError, collectBytes } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { openBackend } from "./helpers.js";

const FIRST_READ = 64 * 1024;
const SPLIT_READ = 1024 * 1024;
// Around the first unsized read and the size from which a read is split in two halves.
const SIZES = [0, 1, FIRST_READ - 1, FIRST_READ, FIRST_READ + 1, SPLIT_READ - 1, SPLIT_READ + FIRST_READ + 3, 3 * SPLIT_READ + 1];

function pattern(size: number): Uint8Array {
  // Every position distinct modulo 251, so a misplaced chunk shows.
  return Uint8Array.from({ length: size }, (_, i) => i % 251);
}

describe.each([true, false])("posixfs reads (syncReads: %s)", (syncReads) => {
  it("loads values of every size around the read thresholds whole and byte for byte", async () => {
    const backend = await openBackend({ syncReads });
    for (const size of SIZES) {
      const value = pattern(size);
      await backend.store(`v${size}`, value);
      expect(Buffer.compare(await backend.load(`v${size}`), value), `size ${size}`).toBe(0);
      expect(Buffer.compare(await collectBytes(await backend.loadStream(`v${size}`)), value), `stream of size ${size}`).toBe(0);
    }
    await backend.close();
  }, 60_000);

  it("loads ranges from the start, the middle, the end, past the end and split across halves", async () => {
    const backend = await openBackend({ syncReads });
    const size = 3 * SPLIT_READ + 1;
    const value = pattern(size);
    await backend.store("big", value);
    const ranges: [number, number | undefined][] = [
      [0, 10],
      [FIRST_READ - 5, 10],
      [SPLIT_READ - 7, SPLIT_READ + 20],
      [5, size],
      [-100, undefined],
      [-100, 10],
      [size - 3, 10],
      [size + 5, 10],
    ];
    for (const [offset, length] of ranges) {
      const start = offset < 0 ? size + offset : Math.min(offset, size);
      const end = length === undefined ? size : Math.min(size, start + length);
      const got = await backend.load("big", { offset, size: length });
      expect(Buffer.compare(got, value.subarray(start, end)), `offset ${offset} size ${length}`).toBe(0);
    }
    await backend.close();
  }, 60_000);

  it("refuses a range of a directory, even an empty one, with EISDIR as cause", async () => {
    const backend = await openBackend({ syncReads });
    mkdirSync(join(backend.base, "dir"));
    for (const range of [{ offset: 0, size: 0 }, { offset: 1, size: 1 }]) {
      const error = await backend.load("dir", range).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(BackendError);
      expect((error as Error).message).toBe("EISDIR: illegal operation on a directory, read");
      expect(((error as Error).cause as { code?: string }).code).toBe("EISDIR");
    }
    await backend.close();
  });
});
