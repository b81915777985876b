import { setTimeout as sleep } from "node:timers/promises";
import { throwIfAborted } from "../abort.js";
import { BackendError, ObjectNotFound } from "../errors.js";
import { isConnectionLost } from "./connection-lost.js";

/** How often and how long apart a backend tries again after a lost connection (docs/rest-protocol.md#reconnecting: 3 × 5 s). */
export interface RetryPolicy {
  /** Tries after the first failure (0: the first failure propagates as it is). */
  retries: number;
  /** Milliseconds to wait before try again number `retry` (1 for the first), or the same for each. */
  delay: number | ((retry: number) => number);
}

/** What {@link withRetry} needs to know about one backend and one call. */
export interface RetryOptions extends RetryPolicy {
  /** Names the backend in the error thrown after the last try ("sftp", "rest", …). */
  backend: string;
  /** Which failures are a lost connection (default: core's {@link isConnectionLost}). */
  isConnectionLost?: (err: unknown) => boolean;
  /**
   * Answers that another try may change although the connection held (rclone's HTTP 500 for a
   * remote it could not reach, say): tried again like a lost connection, but the last one
   * propagates as it is. Default: none.
   */
  isTransient?: (err: unknown) => boolean;
  /**
   * Makes a fresh connection before each further try. An error from it that is a lost connection
   * uses up a try; any other propagates at once.
   */
  reconnect?: () => Promise<void> | void;
  /** False once the backend was closed meanwhile: the last failure then propagates, nothing reconnects (docs/rest-protocol.md#reconnecting). */
  stillOpen?: () => boolean;
  /**
   * The idempotency rule of delete and move: "not found" on a further try means the try whose
   * connection was lost did it. A "not found" on the first try propagates as always.
   */
  notFoundOnRetryIsDone?: boolean;
  /** What counts as "not found" for `notFoundOnRetryIsDone` (default: {@link ObjectNotFound}). */
  isNotFound?: (err: unknown) => boolean;
  /** No further try once the caller gave up (the wait is cut short, and ABORTED thrown). */
  signal?: AbortSignal;
}

/**
 * Runs `operation`; when it fails because the connection was lost (or with a transient answer),
 * waits, reconnects and runs it again, up to `retries` times. Other errors propagate at once.
 * When every try failed and the last failure was a lost connection, throws a {@link BackendError}
 * saying the connection could not be reestablished: not a BackendConnectionError, since it has
 * already given up and no layer above it should try again. Resolves undefined where
 * `notFoundOnRetryIsDone` turned a further try's "not found" into success.
 */
export async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T | undefined> {
  const lost = options.isConnectionLost ?? isConnectionLost;
  const transient = options.isTransient ?? (() => false);
  const retryable = (err: unknown) => lost(err) || transient(err);
  const isNotFound = options.isNotFound ?? ((err: unknown) => err instanceof ObjectNotFound);
  const { signal } = options;
  let last: unknown;
  try {
    return await operation();
  } catch (err) {
    if (options.retries <= 0 || !retryable(err)) throw err;
    last = err;
  }
  for (let retry = 1; retry <= options.retries; retry++) {
    throwIfAborted(signal);
    const delay = typeof options.delay === "function" ? options.delay(retry) : options.delay;
    if (delay > 0) await sleep(delay, undefined, { signal }).catch(() => throwIfAborted(signal));
    if (options.stillOpen && !options.stillOpen()) throw last;
    try {
      await options.reconnect?.();
      return await operation();
    } catch (err) {
      if (options.notFoundOnRetryIsDone && isNotFound(err)) return undefined;
      if (!retryable(err)) throw err;
      last = err;
    }
  }
  if (!lost(last)) throw last;
  const message = last instanceof Error ? last.message : String(last);
  throw new BackendError(`${options.backend} connection was lost and could not be reestablished: ${message}`, { cause: last });
}
