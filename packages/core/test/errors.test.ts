import { describe, expect, it } from "vitest";
import {
  Aborted,
  AuthenticationFailed,
  BackendAlreadyExists,
  BackendConnectionError,
  BackendDoesNotExist,
  BackendError,
  BackendMustBeOpen,
  BackendMustNotBeOpen,
  BackendNotInstalled,
  BackendURLInvalid,
  BorgStoreError,
  ContentHashMismatch,
  ContentLengthMismatch,
  ErrorCodes,
  InvalidArgument,
  InvalidName,
  NoBackendGiven,
  ObjectNotFound,
  PermissionDenied,
  QuotaExceeded,
  ReadRangeError,
  UnsupportedHashAlgorithm,
  isBorgStoreError,
} from "../src/index.js";

// The documented codes are public API: this table must only ever grow.
const TABLE: Array<[string, BorgStoreError, string, (new (...args: never[]) => unknown)[]]> = [
  ["BackendError", new BackendError("x"), "BACKEND_ERROR", []],
  ["BackendURLInvalid", new BackendURLInvalid("x"), "BACKEND_URL_INVALID", [BackendError]],
  ["BackendDoesNotExist", new BackendDoesNotExist("x"), "BACKEND_DOES_NOT_EXIST", [BackendError]],
  ["BackendAlreadyExists", new BackendAlreadyExists("x"), "BACKEND_ALREADY_EXISTS", [BackendError]],
  ["BackendMustBeOpen", new BackendMustBeOpen("x"), "BACKEND_MUST_BE_OPEN", [BackendError]],
  ["BackendMustNotBeOpen", new BackendMustNotBeOpen("x"), "BACKEND_MUST_NOT_BE_OPEN", [BackendError]],
  ["BackendConnectionError", new BackendConnectionError("x"), "BACKEND_CONNECTION_ERROR", [BackendError]],
  ["BackendNotInstalled", new BackendNotInstalled("@borgstore/backend-sftp", "sftp"), "BACKEND_NOT_INSTALLED", [BackendDoesNotExist, BackendError]],
  ["NoBackendGiven", new NoBackendGiven(), "NO_BACKEND_GIVEN", []],
  ["ObjectNotFound", new ObjectNotFound("data/x"), "OBJECT_NOT_FOUND", [BackendError]],
  ["PermissionDenied", new PermissionDenied("x"), "PERMISSION_DENIED", [BackendError]],
  ["QuotaExceeded", new QuotaExceeded("x"), "QUOTA_EXCEEDED", [BackendError]],
  ["ReadRangeError", new ReadRangeError("x"), "READ_RANGE_ERROR", [BackendError]],
  ["InvalidArgument", new InvalidArgument("x"), "INVALID_ARGUMENT", []],
  ["InvalidName", new InvalidName("x"), "INVALID_NAME", [InvalidArgument]],
  ["UnsupportedHashAlgorithm", new UnsupportedHashAlgorithm("md4x"), "UNSUPPORTED_HASH_ALGORITHM", [InvalidArgument]],
  ["ContentHashMismatch", new ContentHashMismatch(), "CONTENT_HASH_MISMATCH", []],
  ["ContentLengthMismatch", new ContentLengthMismatch("x"), "CONTENT_LENGTH_MISMATCH", []],
  ["Aborted", new Aborted(), "ABORTED", []],
  ["AuthenticationFailed", new AuthenticationFailed("x"), "AUTHENTICATION_FAILED", [BackendError]],
];

describe("error classes", () => {
  it.each(TABLE)("%s has the stable code, its name and its base classes", (name, err, code, bases) => {
    expect(err.code).toBe(code);
    expect(err.name).toBe(name);
    expect(err).toBeInstanceOf(BorgStoreError);
    expect(err).toBeInstanceOf(Error);
    for (const base of bases) expect(err).toBeInstanceOf(base);
    expect(isBorgStoreError(err, code as never)).toBe(true);
  });

  it("covers every code exactly once", () => {
    expect(TABLE.map(([, , code]) => code).sort()).toEqual(Object.values(ErrorCodes).sort());
  });

  it("keeps the cause", () => {
    const cause = new Error("disk on fire");
    expect(new BackendError("failed", { cause }).cause).toBe(cause);
    expect(new ObjectNotFound("x", { cause }).cause).toBe(cause);
  });

  it("keeps the reference's texts", () => {
    expect(new ObjectNotFound("data/x").message).toBe("data/x");
    expect(new UnsupportedHashAlgorithm("nope").message).toBe("Unsupported hash algorithm: nope");
    expect(new BackendNotInstalled("@borgstore/backend-s3", "s3").message).toContain("npm install @borgstore/backend-s3");
  });
});
