import { BackendConnectionError, ObjectNotFound } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { toBackendError } from "../src/errors.js";

describe("toBackendError", () => {
  it("a lost connection becomes a BackendConnectionError naming what failed, with the original as cause", () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const err = toBackendError(reset, "GET /x failed");
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect((err as Error).message).toBe("GET /x failed: socket hang up");
    expect((err as Error).cause).toBe(reset);
  });

  it("a lost connection that is no Error is named by its text", () => {
    const err = toBackendError({ code: "UND_ERR_SOCKET", toString: () => "bare object" }, "POST /y failed");
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect((err as Error).message).toBe("POST /y failed: bare object");
  });

  it("a BackendConnectionError and any other error pass through as they are", () => {
    const lost = new BackendConnectionError("already ours");
    const notFound = new ObjectNotFound("x");
    const bug = new TypeError("not a connection problem");
    for (const err of [lost, notFound, bug, "text"]) expect(toBackendError(err, "GET /x failed")).toBe(err);
  });
});
