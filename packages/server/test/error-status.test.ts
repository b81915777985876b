import {
  BackendError,
  BackendMustBeOpen,
  ContentHashMismatch,
  InvalidName,
  ObjectNotFound,
  QuotaExceeded,
} from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { errorReply, redact } from "../src/error-status.js";

// What an exception becomes on the wire: status, message (redacted) and, for 422, a plain reply.
describe("errorReply", () => {
  it("answers our own errors with their status and message, the storage base redacted", () => {
    expect(errorReply(new ObjectNotFound("/srv/store/data/x not found"), "/srv/store")).toEqual({
      status: 404,
      message: "[STORAGE_BASE]/data/x not found",
    });
    expect(errorReply(new QuotaExceeded("over"), undefined)).toEqual({ status: 507, message: "over" });
    expect(errorReply(new InvalidName("bad name"), "/srv")).toEqual({ status: 400, message: "bad name" });
  });

  it("answers a 422 as a plain reply with the reference's text", () => {
    expect(errorReply(new ContentHashMismatch("whatever it said"), undefined)).toEqual({
      status: 422,
      message: "Content hash verification failed, please retry",
      plain: true,
    });
  });

  it("keeps the phrase the client reads for 412 (wireMessage)", () => {
    expect(errorReply(new BackendMustBeOpen("not yet"), undefined)).toEqual({ status: 412, message: "backend must be open" });
  });

  it("answers what we did not raise with a bare 500, never its message", () => {
    for (const thrown of [new Error("/srv/store: EIO"), "a string", undefined, null, { code: "ENOENT" }])
      expect(errorReply(thrown, "/srv/store")).toEqual({ status: 500, message: "Internal Server Error" });
  });

  it("answers a BackendError wrapping an OS error with a bare 500, one wrapping nothing with its message", () => {
    const os = Object.assign(new Error("ENOTEMPTY: directory not empty, rmdir '/srv/store/x'"), { code: "ENOTEMPTY" });
    expect(errorReply(new BackendError("rmdir failed: /srv/store/x", { cause: os }), "/srv/store")).toEqual({
      status: 500,
      message: "Internal Server Error",
    });
    expect(errorReply(new BackendError("backend broke at /srv/store/x"), "/srv/store")).toEqual({
      status: 500,
      message: "backend broke at [STORAGE_BASE]/x",
    });
  });

  it("answers a BackendError wrapping one of our errors (at any depth) as that error", () => {
    const inner = new ObjectNotFound("data/x");
    expect(errorReply(new BackendError("outer", { cause: new BackendError("middle", { cause: inner }) }), undefined)).toEqual({
      status: 404,
      message: "data/x",
    });
    // A BackendError wrapping one of ours that is no BackendError is that error, not the wrapper.
    expect(errorReply(new BackendError("outer", { cause: new QuotaExceeded("full") }), undefined)).toEqual({ status: 507, message: "full" });
    // Only a BackendError is unwrapped: another error keeps its own status whatever it wraps.
    expect(errorReply(new QuotaExceeded("full", { cause: new ObjectNotFound("x") }), undefined)).toEqual({ status: 507, message: "full" });
  });
});

describe("redact", () => {
  it("replaces every occurrence of the location, with or without its trailing slashes", () => {
    expect(redact("a /srv/store/x and /srv/store/y", "/srv/store")).toBe("a [STORAGE_BASE]/x and [STORAGE_BASE]/y");
    expect(redact("at /srv/store/x", "/srv/store//")).toBe("at [STORAGE_BASE]/x");
    expect(redact("at /srv/store and /srv/store/", "/srv/store/")).toBe("at [STORAGE_BASE] and [STORAGE_BASE]");
  });

  it("tries the longer form first: the slash-less one would leave the slash behind", () => {
    expect(redact("/srv/store/x", "/srv/store/")).toBe("[STORAGE_BASE]x");
  });

  it("leaves the message alone without a location, or for a location of one character", () => {
    expect(redact("/x/y", undefined)).toBe("/x/y");
    expect(redact("/x/y", "")).toBe("/x/y");
    expect(redact("/x/y", "/")).toBe("/x/y");
    expect(redact("/x//y", "//")).toBe("/x[STORAGE_BASE]y");
  });
});
