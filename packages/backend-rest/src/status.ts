import { BackendConnectionError } from "@borgstore/core";
import { isConnectionLost } from "@borgstore/core/backend";

/**
 * `err` as a BackendConnectionError when it is a lost connection (the kit's isConnectionLost:
 * a fresh connection may well succeed, docs/rest-protocol.md#reconnecting); anything else as it is.
 */
export function asConnectionError(err: unknown, what: string): unknown {
  if (err instanceof BackendConnectionError || !isConnectionLost(err)) return err;
  return new BackendConnectionError(`${what}: ${(err as Error).message ?? err}`, { cause: err });
}
