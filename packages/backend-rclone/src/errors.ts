import { BackendConnectionError, BackendError, BorgStoreError, ObjectNotFound } from "@borgstore/core";
import { isConnectionLost } from "@borgstore/core/backend";
import { RcloneCallFailed } from "./rc-client.js";

/** Our error for a failure talking to rclone; a 404 about `name` is ObjectNotFound(name). */
export function toBackendError(err: unknown, name?: string): Error {
  if (err instanceof BorgStoreError) return err;
  if (err instanceof RcloneCallFailed) {
    if (err.status === 404 && name !== undefined) return new ObjectNotFound(name, { cause: err });
    return new BackendError(err.message, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (isConnectionLost(err)) return new BackendConnectionError(`lost the connection to rclone rcd: ${message}`, { cause: err });
  return new BackendError(`rclone: ${message}`, { cause: err });
}
