import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { BackendError, ObjectNotFound } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { openBackend } from "./helpers.js";

async function failure(promise: Promise<unknown>): Promise<Error & { cause?: { code?: string; message?: string } }> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (err) => err,
  );
}

describe.each([true, false])("posixfs maps OS errors (syncReads: %s)", (syncReads) => {
  it("a missing name, or one below a value, is ObjectNotFound naming it, the OS error as cause", async () => {
    const backend = await openBackend({ syncReads });
    await backend.store("file", new Uint8Array([1]));
    const missing = await failure(backend.load("missing"));
    expect(missing).toBeInstanceOf(ObjectNotFound);
    expect(missing.message).toBe("missing");
    expect(missing.cause?.code).toBe("ENOENT");
    const below = await failure(backend.load("file/x"));
    expect(below).toBeInstanceOf(ObjectNotFound);
    expect(below.message).toBe("file/x");
    expect(below.cause?.code).toBe("ENOTDIR");
    await backend.close();
  });

  it("another OS error is a BackendError with the OS error's message and the error as cause", async () => {
    const backend = await openBackend({ syncReads });
    mkdirSync(join(backend.base, "dir"));
    const error = await failure(backend.load("dir"));
    expect(error).toBeInstanceOf(BackendError);
    expect(error).not.toBeInstanceOf(ObjectNotFound);
    expect(error.cause?.code).toBe("EISDIR");
    expect(error.message).toBe(error.cause?.message);
    await backend.close();
  });

  it("an error thrown by the caller's source passes through storeStream unchanged", async () => {
    const backend = await openBackend({ syncReads });
    const boom = new Error("boom");
    async function* source() {
      yield new Uint8Array(10);
      throw boom;
    }
    expect(await failure(backend.storeStream("k", source()))).toBe(boom);
    await backend.close();
  });
});
