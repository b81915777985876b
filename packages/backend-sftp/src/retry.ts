import { withRetry } from "@borgstore/core/backend";
import { isConnectionLost } from "./errors.js";

/**
 * The reconnect rules of the REST client (docs/rest-protocol.md#reconnecting): after a lost connection, up to `attempts` reconnects, each after `delay` ms.
 * @deprecated Use `withRetry` and its `RetryPolicy` from `@borgstore/core/backend`; this goes in the next minor version.
 */
export interface RetryPolicy {
  /** Reconnects tried after a lost connection. */
  attempts: number;
  /** Milliseconds to wait before each reconnect. */
  delay: number;
}

/**
 * Options of one retried operation.
 * @deprecated Use `withRetry`'s options from `@borgstore/core/backend`.
 */
export interface RetryOptions {
  /** delete/move: ObjectNotFound on a retry means the lost attempt already did it. */
  notFoundOnRetryIsDone?: boolean;
}

/**
 * Runs `operation`, reconnecting and rerunning it after a lost SFTP connection.
 * @deprecated Use `withRetry` from `@borgstore/core/backend` with this package's `isConnectionLost`.
 */
export async function withReconnect<T>(
  operation: () => Promise<T>,
  reconnect: () => Promise<void>,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<T> {
  const { attempts: retries, delay } = policy;
  return (await withRetry(operation, { backend: "sftp", retries, delay, reconnect, isConnectionLost, ...options })) as T;
}
