import { isConnectionLost } from "@borgstore/backend-sftp";
import { BackendConnectionError, InvalidArgument, ObjectNotFound } from "@borgstore/core";
import { withRetry } from "@borgstore/core/backend";
import { describe, expect, it } from "vitest";

// Which failures are a lost connection, on plain errors; the real connection losses are in reconnect.test.ts.
const lost = () => new BackendConnectionError("connection lost");
function withCode(message: string, code: string | number): Error {
  return Object.assign(new Error(message), { code });
}

describe("which failures mean the connection was lost", () => {
  it.each([
    ["a timeout", new BackendConnectionError("no answer within 120000 ms")],
    ["ECONNRESET", withCode("read ECONNRESET", "ECONNRESET")],
    ["EPIPE", withCode("write EPIPE", "EPIPE")],
    ["ETIMEDOUT", withCode("connect ETIMEDOUT", "ETIMEDOUT")],
    ["ssh2's pending-request error", new Error("No response from server")],
    ["an ssh transport error", Object.assign(new Error("Keepalive timeout"), { level: "client-timeout" })],
    ["a socket error", Object.assign(new Error("socket hang up"), { level: "client-socket" })],
  ])("%s is a lost connection", (_, err) => {
    expect(isConnectionLost(err)).toBe(true);
  });

  it.each([
    ["SFTP no such file", withCode("No such file", 2)],
    ["SFTP permission denied", withCode("Permission denied", 3)],
    ["ENOENT", withCode("no such file", "ENOENT")],
    ["EACCES", withCode("denied", "EACCES")],
    ["ObjectNotFound", new ObjectNotFound("x")],
    ["an argument error", new InvalidArgument("bad")],
    ["a plain Error", new Error("something else")],
  ])("%s is not", (_, err) => {
    expect(isConnectionLost(err)).toBe(false);
  });
});

// The retry rules themselves are the kit's (core/test/backend-kit-retry.test.ts); here, that this
// package's classification plugs into them: an ssh2 transport error is retried, an SFTP status is not.
describe("the kit's withRetry with this package's isConnectionLost (docs/rest-protocol.md#reconnecting)", () => {
  const options = { backend: "sftp", retries: 3, delay: 0, isConnectionLost };

  it("an ssh2 'No response from server' → reconnect → the rerun succeeds", async () => {
    const calls: string[] = [];
    const result = await withRetry(
      async () => {
        calls.push("op");
        if (calls.length === 1) throw new Error("No response from server");
        return 42;
      },
      { ...options, reconnect: () => void calls.push("reconnect") },
    );
    expect(result).toBe(42);
    expect(calls).toEqual(["op", "reconnect", "op"]);
  });

  it("an SFTP 'no such file' answer is not retried; on a further try of a delete it means done", async () => {
    let reconnects = 0;
    const noSuchFile = () => withCode("No such file", 2);
    await expect(
      withRetry(
        async () => {
          throw noSuchFile();
        },
        { ...options, reconnect: () => void reconnects++, notFoundOnRetryIsDone: true, isNotFound: (e) => (e as { code?: unknown }).code === 2 },
      ),
    ).rejects.toMatchObject({ code: 2 });
    expect(reconnects).toBe(0);
    let n = 0;
    const op = async () => {
      if (n++ === 0) throw lost();
      throw new ObjectNotFound("x");
    };
    await expect(withRetry(op, { ...options, notFoundOnRetryIsDone: true })).resolves.toBeUndefined();
  });
});
