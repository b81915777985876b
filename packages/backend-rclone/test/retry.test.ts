import { describe, expect, it } from "vitest";
import { isTransient } from "../src/index.js";
import { RcloneCallFailed } from "../src/rc-client.js";

describe("which rclone failures are retried", () => {
  it("HTTP 500 (rclone's backend, protocol or network trouble) and 502–504 are transient", () => {
    expect(isTransient(new RcloneCallFailed("operations/uploadfile", 500, "couldn't connect SSH: connection reset"))).toBe(true);
    expect(isTransient(new RcloneCallFailed("serving x", 503, "unavailable"))).toBe(true);
  });

  it("a 500 whose cause cannot change by asking again is not retried", () => {
    for (const text of ["remove /d: directory not empty", "is a directory not a file", 'unknown hash type "blake3"', "Move Rename failed: sftp: \"Failure\""])
      expect(isTransient(new RcloneCallFailed("op", 500, text))).toBe(false);
  });

  it("4xx answers are final", () => {
    expect(isTransient(new RcloneCallFailed("operations/deletefile", 404, "object not found"))).toBe(false);
    expect(isTransient(new RcloneCallFailed("op", 400, "bad request"))).toBe(false);
  });

  it("lost connections and timeouts are transient, other errors are not", () => {
    for (const code of ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_HEADERS_TIMEOUT"])
      expect(isTransient(Object.assign(new Error(code), { code }))).toBe(true);
    expect(isTransient(new Error("something else"))).toBe(false);
    expect(isTransient(undefined)).toBe(false);
  });
});
