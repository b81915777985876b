import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BackendAlreadyExists, BackendError, ObjectNotFound } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { errnoOf, isMissing, toBackendError } from "../src/errors.js";
import { tempDir } from "./helpers.js";

// errors.ts used directly, with real OS errors where the backend's tests cannot reach a branch
// (an error that is no Error, a missing file without a name to report).

function osError(path: string): NodeJS.ErrnoException {
  try {
    readFileSync(path);
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error(`expected reading ${path} to fail`);
}

describe("posixfs errors", () => {
  it("errnoOf reads a string code off objects only", () => {
    expect(errnoOf(osError(join(tempDir(), "missing")))).toBe("ENOENT");
    expect(errnoOf({ code: "EIO" })).toBe("EIO");
    expect(errnoOf(null)).toBeUndefined();
    expect(errnoOf(undefined)).toBeUndefined();
    expect(errnoOf("ENOENT")).toBeUndefined();
    expect(errnoOf({ code: 5 })).toBeUndefined();
    expect(errnoOf({})).toBeUndefined();
    expect(errnoOf(new Error("no code"))).toBeUndefined();
  });

  it("isMissing is ENOENT or ENOTDIR, nothing else", () => {
    const dir = tempDir();
    expect(isMissing(osError(join(dir, "missing")))).toBe(true);
    expect(isMissing(osError(join(dir, "missing", "below")))).toBe(true);
    expect(isMissing(osError(dir))).toBe(false); // EISDIR
    expect(isMissing({ code: "ENOTDIR" })).toBe(true);
    expect(isMissing({ code: "EACCES" })).toBe(false);
    expect(isMissing(null)).toBe(false);
  });

  it("a missing file is ObjectNotFound only when a name is given; without one a BackendError with the OS message", () => {
    const missing = osError(join(tempDir(), "missing"));
    const named = toBackendError(missing, "some/name") as ObjectNotFound;
    expect(named).toBeInstanceOf(ObjectNotFound);
    expect(named.message).toBe("some/name");
    expect(named.cause).toBe(missing);
    const unnamed = toBackendError(missing) as BackendError;
    expect(unnamed).toBeInstanceOf(BackendError);
    expect(unnamed).not.toBeInstanceOf(ObjectNotFound);
    expect(unnamed.message).toBe(missing.message);
    expect(unnamed.cause).toBe(missing);
  });

  it("another OS error is a BackendError even with a name; our errors and errors without a code pass through", () => {
    const isDir = osError(tempDir());
    const mapped = toBackendError(isDir, "name") as BackendError;
    expect(mapped).toBeInstanceOf(BackendError);
    expect(mapped).not.toBeInstanceOf(ObjectNotFound);
    expect(mapped.message).toBe(isDir.message);
    const ours = new BackendAlreadyExists("exists");
    expect(toBackendError(ours)).toBe(ours);
    expect(toBackendError(ours, "name")).toBe(ours);
    const plain = new TypeError("a source's own failure");
    expect(toBackendError(plain)).toBe(plain);
    expect(toBackendError(plain, "name")).toBe(plain);
    expect(toBackendError("text")).toBe("text");
  });

  it("an OS error that is no Error instance becomes a BackendError with its text as message", () => {
    const odd = { code: "EIO", toString: () => "EIO: odd failure" };
    const mapped = toBackendError(odd) as BackendError;
    expect(mapped).toBeInstanceOf(BackendError);
    expect(mapped.message).toBe("EIO: odd failure");
    expect(mapped.cause).toBe(odd);
  });
});
