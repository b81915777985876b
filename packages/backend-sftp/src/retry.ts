import { BackendError, ObjectNotFound } from "@borgstore/core";
import { isConnectionLost, messageOf } from "./sftp-errors.js";

/** The reconnect rules of the REST client (docs/rest-protocol.md#reconnecting): after a lost connection, up to `attempts` reconnects, each after `delay` ms. */
export interface RetryPolicy {
  /** Reconnects tried after a lost connection. */
  attempts: number;
  /** Milliseconds to wait before each reconnect. */
  delay: number;
}

/** Options of one retried operation. */
export interface RetryOptions {
  /** delete/move: ObjectNotFound on a retry means the lost attempt already did it. */
  notFoundOnRetryIsDone?: boolean;
}

/**
 * Runs `operation`; when it fails because the connection was lost, reconnects and reruns it, up to
 * `policy.attempts` times. Other errors, and errors from reconnecting that are not connection
 * losses, propagate at once. ObjectNotFound on a retry is success where the caller says so.
 */
export async function withReconnect<T>(
  operation: () => Promise<T>,
  reconnect: () => Promise<void>,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (!isConnectionLost(err)) throw err;
    let last: unknown = err;
    for (let attempt = 1; attempt <= policy.attempts; attempt++) {
      if (policy.delay > 0) await sleep(policy.delay);
      try {
        await reconnect();
        return await operation();
      } catch (retryErr) {
        if (retryErr instanceof ObjectNotFound && options.notFoundOnRetryIsDone) return undefined as T;
        if (!isConnectionLost(retryErr)) throw retryErr;
        last = retryErr;
      }
    }
    throw new BackendError(`sftp connection was lost and could not be reestablished: ${messageOf(last)}`, { cause: last });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
