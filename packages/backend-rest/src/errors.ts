import { BackendConnectionError } from "@borgstore/core";
import { isConnectionLost } from "@borgstore/core/backend";

/**
 * A transport failure as core's error: `err` as a BackendConnectionError when it is a lost connection (the kit's isConnectionLost:
 * a fresh connection may well succeed, docs/rest-protocol.md#reconnecting); anything else as it is.
 * What the server answered with an HTTP status maps through `@borgstore/core/rest-protocol`, shared with the server.
 */
export function toBackendError(err: unknown, what: string): unknown {
  if (err instanceof BackendConnectionError || !isConnectionLost(err)) return err;
  return new BackendConnectionError(`${what}: ${(err as Error).message ?? err}`, { cause: err });
}
