import { isConnectionLost, withRetry } from "../src/backend-kit/index.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BackendConnectionError, BackendError, ErrorCodes, InvalidArgument, ObjectNotFound, isBorgStoreError } from "../src/index.js";

type Outcome = "ok" | "lost" | "notFound" | "other" | "transient";

class Transient extends Error {}

/** The failure of try `n` for an outcome, labelled "<outcome> <n>" so the test can tell which ended the run. */
function fail(outcome: Exclude<Outcome, "ok">, n: number): Error {
  const label = `${outcome} ${n}`;
  if (outcome === "lost") return new BackendConnectionError(label);
  if (outcome === "notFound") return new ObjectNotFound(label);
  if (outcome === "transient") return new Transient(label);
  return new InvalidArgument(label);
}

/** The reconnect rule of docs/rest-protocol.md#reconnecting written out plainly: what `withRetry` must end with, and after how many tries. */
function expected(outcomes: Outcome[], retries: number, notFoundIsDone: boolean): { tries: number; result: string } {
  for (let n = 0; ; n++) {
    const o = outcomes[n] as Outcome;
    if (o === "ok") return { tries: n + 1, result: "value" };
    if (n > 0 && o === "notFound" && notFoundIsDone) return { tries: n + 1, result: "done" };
    const retryable = o === "lost" || o === "transient";
    if (retryable && n < retries) continue;
    // After at least one reconnect, a last lost connection becomes "could not be reestablished".
    return { tries: n + 1, result: retryable && n > 0 && o === "lost" ? "gave up" : `${o} ${n}` };
  }
}

describe("withRetry: reconnect and try again after a lost connection (docs/rest-protocol.md#reconnecting)", () => {
  it("ends as the plain rule says, with one reconnect before each further try", async () => {
    const outcome = fc.constantFrom<Outcome>("ok", "lost", "notFound", "other", "transient");
    await fc.assert(
      fc.asyncProperty(fc.array(outcome, { minLength: 6, maxLength: 6 }), fc.nat(4), fc.boolean(), async (outcomes, retries, notFoundIsDone) => {
        let tries = 0;
        let reconnects = 0;
        const result = await withRetry(
          async () => {
            const o = outcomes[tries] as Outcome;
            const n = tries++;
            if (o === "ok") return "value";
            throw fail(o, n);
          },
          {
            backend: "test",
            retries,
            delay: 0,
            reconnect: () => void reconnects++,
            isTransient: (err) => err instanceof Transient,
            notFoundOnRetryIsDone: notFoundIsDone,
          },
        ).then(
          (value) => value ?? "done",
          (err: Error) => (isBorgStoreError(err, ErrorCodes.BACKEND_ERROR) && /could not be reestablished/.test(err.message) ? "gave up" : err.message),
        );
        const want = expected(outcomes, retries, notFoundIsDone);
        expect(result).toBe(want.result);
        expect(tries).toBe(want.tries);
        expect(reconnects).toBe(want.tries - 1);
      }),
      { numRuns: 400 },
    );
  });

  it("gives up with BACKEND_ERROR (not a connection error: nothing above retries again), keeping the last loss as cause", async () => {
    const last = new BackendConnectionError("third");
    let n = 0;
    const err = await withRetry(
      async () => {
        throw n++ < 3 ? new BackendConnectionError(`loss ${n}`) : last;
      },
      { backend: "sftp", retries: 3, delay: 0 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).not.toBeInstanceOf(BackendConnectionError);
    expect((err as Error).message).toBe("sftp connection was lost and could not be reestablished: third");
    expect((err as Error).cause).toBe(last);
  });

  it("with retries 0 the first lost connection propagates as it is", async () => {
    const lost = new BackendConnectionError("gone");
    await expect(withRetry(() => Promise.reject(lost), { backend: "rest", retries: 0, delay: 0 })).rejects.toBe(lost);
  });

  it("a reconnect that loses the connection uses up a try; a reconnect failing otherwise propagates at once", async () => {
    let reconnects = 0;
    const err = await withRetry(() => Promise.reject(new BackendConnectionError("lost")), {
      backend: "sftp",
      retries: 5,
      delay: 0,
      reconnect: () => {
        if (reconnects++ === 0) throw new BackendConnectionError("still down");
        throw new InvalidArgument("host key refused");
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgument);
    expect(reconnects).toBe(2);
  });

  it("does not reconnect once the backend was closed: the lost connection propagates", async () => {
    const lost = new BackendConnectionError("lost");
    let reconnects = 0;
    const options = { backend: "rest", retries: 3, delay: 0, stillOpen: () => false, reconnect: () => void reconnects++ };
    await expect(withRetry(() => Promise.reject(lost), options)).rejects.toBe(lost);
    expect(reconnects).toBe(0);
  });

  it("waits `delay` before each further try, a function of the try's number where given", async () => {
    const waits: number[] = [];
    let n = 0;
    const started = Date.now();
    await withRetry(
      async () => {
        if (n++ < 2) throw new BackendConnectionError("lost");
      },
      {
        backend: "t",
        retries: 3,
        delay: (retry) => {
          waits.push(retry);
          return 60 * retry;
        },
      },
    );
    expect(waits).toEqual([1, 2]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(170);
  });

  it("stops waiting when the caller's signal fires, with ABORTED", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const err = await withRetry(() => Promise.reject(new BackendConnectionError("lost")), {
      backend: "t",
      retries: 3,
      delay: 10_000,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toMatchObject({ code: ErrorCodes.ABORTED });
    controller.abort();
    await expect(
      withRetry(() => Promise.reject(new BackendConnectionError("lost")), { backend: "t", retries: 3, delay: 0, signal: controller.signal }),
    ).rejects.toMatchObject({ code: ErrorCodes.ABORTED });
  });
});

describe("isConnectionLost", () => {
  const coded = (code: string | number) => Object.assign(new Error(String(code)), { code });

  it.each(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "ERR_STREAM_PREMATURE_CLOSE", "UND_ERR_SOCKET", "UND_ERR_BODY_TIMEOUT"])(
    "%s is a lost connection",
    (code) => {
      expect(isConnectionLost(coded(code))).toBe(true);
    },
  );

  it("so is a BackendConnectionError, and any error caused by a lost connection", () => {
    expect(isConnectionLost(new BackendConnectionError("x"))).toBe(true);
    expect(isConnectionLost(new Error("fetch failed", { cause: coded("ECONNRESET") }))).toBe(true);
  });

  it("answers are not: ObjectNotFound, a BackendError that gave up (whatever its cause), ENOENT, SFTP status numbers, plain errors", () => {
    expect(isConnectionLost(new ObjectNotFound("x"))).toBe(false);
    expect(isConnectionLost(new BackendError("gave up", { cause: new BackendConnectionError("x") }))).toBe(false);
    expect(isConnectionLost(coded("ENOENT"))).toBe(false);
    expect(isConnectionLost(coded(2))).toBe(false);
    expect(isConnectionLost(new TypeError("x"))).toBe(false);
    expect(isConnectionLost(undefined)).toBe(false);
    expect(isConnectionLost("ECONNRESET")).toBe(false);
  });
});
