import { describe, expect, it } from "vitest";
import { type DefragSource, ErrorCodes, type LoadOptions, MemoryBackend, type SizedByteSource } from "../src/index.js";
import { sizedBytes } from "../src/backend-kit/index.js";
import { bytes, failure, names, text } from "./helpers.js";

async function opened<B extends MemoryBackend>(backend: B): Promise<B> {
  await backend.create();
  await backend.open();
  await backend.store("a", bytes("0123456789"));
  await backend.store("b", bytes("abc"));
  return backend;
}

const TARGET = { target: "t" };

describe("Backend.defrag refuses malformed source lists before reading anything", () => {
  it("refuses sources that are not an array", async () => {
    const be = await opened(new MemoryBackend());
    expect(await failure(be.defrag("a" as unknown as DefragSource[], TARGET))).toEqual({
      code: ErrorCodes.INVALID_ARGUMENT,
      message: "defrag sources must be an array of [name, offset, size]",
    });
  });

  it("refuses a source that is not a [name, offset, size] triple", async () => {
    const be = await opened(new MemoryBackend());
    for (const source of [["a", 0, 1, 2], "abc", ["a", 0]]) {
      expect(await failure(be.defrag([source as unknown as DefragSource], TARGET))).toEqual({
        code: ErrorCodes.INVALID_ARGUMENT,
        message: `defrag source must be [name, offset, size], but got: ${String(source)}`,
      });
    }
    expect(await names(be.list(""))).toEqual(["a", "b"]);
  });

  it("refuses a missing or non-integer size, and a negative one", async () => {
    const be = await opened(new MemoryBackend());
    expect(await failure(be.defrag([["a", 0, undefined as unknown as number]], TARGET))).toEqual({
      code: ErrorCodes.INVALID_ARGUMENT,
      message: "size must be a non-negative integer, but got: undefined",
    });
    for (const source of [["a", 0, -1], ["a", 0, 1.5], ["a", 0.5, 1]] as DefragSource[])
      expect((await failure(be.defrag([source], TARGET))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
  });

  it("refuses a result beyond 2^53 bytes without reading a source", async () => {
    let loads = 0;
    class Counting extends MemoryBackend {
      protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
        loads++;
        return super._loadStream(name, options);
      }
    }
    const be = await opened(new Counting());
    const half = 2 ** 52;
    expect(
      await failure(
        be.defrag(
          [
            ["a", 0, half],
            ["a", 0, half],
          ],
          TARGET,
        ),
      ),
    ).toEqual({ code: ErrorCodes.INVALID_ARGUMENT, message: `defrag result too large: ${2 * half} bytes` });
    expect(loads).toBe(0);
  });

  it("a malformed later source fails after the readable ones, and is never read itself", async () => {
    const be = await opened(new MemoryBackend());
    const err = await failure(be.defrag([["a", 0, 2], ["b", 0] as unknown as DefragSource], TARGET));
    expect(err).toEqual({ code: ErrorCodes.INVALID_ARGUMENT, message: "defrag source must be [name, offset, size], but got: b,0" });
    expect(await names(be.list(""))).toEqual(["a", "b"]);
  });

  it("an invalid first source fails as itself, before the store's own overwrite check", async () => {
    const be = new MemoryBackend({ permissions: { "": "lrw" } });
    await be.create();
    await be.open();
    await be.store("t", bytes("old"));
    expect((await failure(be.defrag([["../x", 0, 1]], TARGET))).code).toBe(ErrorCodes.INVALID_NAME);
    expect((await failure(be.defrag([["a", 0, 1, 9] as unknown as DefragSource], TARGET))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect((await failure(be.defrag([["a", 0.5, 1]], TARGET))).code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(text(await be.load("t"))).toBe("old");
  });
});

describe("Backend.defrag against a backend that returns more than the range asked", () => {
  it("fails with READ_RANGE_ERROR and stores nothing", async () => {
    class IgnoresRanges extends MemoryBackend {
      protected override async _loadStream(name: string): Promise<SizedByteSource> {
        return sizedBytes(await this._load(name, {}));
      }
    }
    const be = await opened(new IgnoresRanges());
    const err = await failure(be.defrag([["a", 2, 3]], TARGET));
    expect(err.code).toBe(ErrorCodes.READ_RANGE_ERROR);
    expect(await names(be.list(""))).toEqual(["a", "b"]);
  });
});

describe("Backend.defrag under a digest name", () => {
  it("says that the sources changed when they did between its two passes", async () => {
    let opened_ = 0;
    class Changing extends MemoryBackend {
      protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
        if (opened_++ === 1) await this._store("a", bytes("9876543210"));
        return super._loadStream(name, options);
      }
    }
    const be = await opened(new Changing());
    expect(await failure(be.defrag([["a", 0, 10]], { algorithm: "sha256" }))).toEqual({
      code: ErrorCodes.CONTENT_HASH_MISMATCH,
      message: "defrag sources changed while the target was written, please retry",
    });
  });
});
