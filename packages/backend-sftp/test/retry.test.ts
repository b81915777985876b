import { isConnectionLost, withReconnect } from "@borgstore/backend-sftp";
import { BackendConnectionError, ErrorCodes, InvalidArgument, ObjectNotFound } from "@borgstore/core";
import { describe, expect, it } from "vitest";

// The rules of docs/rest-protocol.md#reconnecting on plain functions; the real connection losses are in reconnect.test.ts.
const policy = { attempts: 3, delay: 0 };
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

describe("reconnect and retry after a lost connection (docs/rest-protocol.md#reconnecting)", () => {
  it("one lost connection → reconnect → the rerun succeeds", async () => {
    const calls: string[] = [];
    let n = 0;
    const result = await withReconnect(
      async () => {
        calls.push("op");
        if (n++ === 0) throw lost();
        return 42;
      },
      async () => void calls.push("reconnect"),
      policy,
    );
    expect(result).toBe(42);
    expect(calls).toEqual(["op", "reconnect", "op"]);
  });

  it("other errors are not retried", async () => {
    let reconnects = 0;
    await expect(
      withReconnect(
        async () => {
          throw new ObjectNotFound("x");
        },
        async () => void reconnects++,
        policy,
      ),
    ).rejects.toBeInstanceOf(ObjectNotFound);
    expect(reconnects).toBe(0);
  });

  it("gives up after all attempts with BACKEND_ERROR", async () => {
    let reconnects = 0;
    const err = await withReconnect(
      async () => {
        throw lost();
      },
      async () => void reconnects++,
      policy,
    ).catch((e: unknown) => e);
    expect(reconnects).toBe(3);
    expect(err).toMatchObject({ code: ErrorCodes.BACKEND_ERROR });
    expect((err as Error).message).toMatch(/could not be reestablished/);
  });

  it("a reconnect that fails with a lost connection uses up an attempt; another failure propagates", async () => {
    let reconnects = 0;
    await expect(
      withReconnect(
        async () => {
          throw lost();
        },
        async () => {
          if (reconnects++ === 0) throw lost();
          throw new InvalidArgument("host key refused");
        },
        policy,
      ),
    ).rejects.toBeInstanceOf(InvalidArgument);
    expect(reconnects).toBe(2);
  });

  it("ObjectNotFound on a retry counts as done where asked (delete, move)", async () => {
    let n = 0;
    const op = async () => {
      if (n++ === 0) throw lost();
      throw new ObjectNotFound("x");
    };
    await expect(withReconnect(op, async () => {}, policy, { notFoundOnRetryIsDone: true })).resolves.toBeUndefined();
  });

  it("ObjectNotFound on the first attempt propagates even where retries count it as done", async () => {
    await expect(
      withReconnect(
        async () => {
          throw new ObjectNotFound("x");
        },
        async () => {},
        policy,
        { notFoundOnRetryIsDone: true },
      ),
    ).rejects.toBeInstanceOf(ObjectNotFound);
  });

  it("ObjectNotFound on a retry propagates where not asked", async () => {
    let n = 0;
    const op = async () => {
      if (n++ === 0) throw lost();
      throw new ObjectNotFound("x");
    };
    await expect(withReconnect(op, async () => {}, policy)).rejects.toBeInstanceOf(ObjectNotFound);
  });

  it("waits the configured delay before each reconnect", async () => {
    let n = 0;
    const started = Date.now();
    await withReconnect(
      async () => {
        if (n++ < 2) throw lost();
      },
      async () => {},
      { attempts: 3, delay: 100 },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});
