import { BackendConnectionError, BackendError, ObjectNotFound, PermissionDenied, isBorgStoreError } from "@borgstore/core";
import { isConnectionLost as isLostOnTheWire } from "@borgstore/core/backend";

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that ssh2 puts on `err.code`. */
export const SftpStatus = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
} as const;

/** The server answered with this SFTP status (as opposed to the connection failing). */
export function hasSftpStatus(err: unknown, status: number): boolean {
  return (err as { code?: unknown } | undefined)?.code === status;
}

export function isNoSuchFile(err: unknown): boolean {
  return hasSftpStatus(err, SftpStatus.NO_SUCH_FILE);
}

// What ssh2 says when the channel or connection closes under a pending request.
const LOST_MESSAGES = /No response from server|Not connected|Channel (?:closed|not open)|Unable to exec|keepalive timeout|Connection lost/i;

// ssh2 tags transport-level errors with a `level`.
const LOST_LEVELS = new Set(["client-socket", "client-timeout", "protocol"]);

/**
 * Whether `err` means the connection was lost (so reconnecting and retrying may help), as the
 * reference's is_connection_lost: core's socket and timeout codes, plus ssh2's transport errors
 * and messages. SFTP status answers (no such file, permission denied, failure) and our own
 * argument errors are not.
 */
export function isConnectionLost(err: unknown): boolean {
  if (isBorgStoreError(err)) return err instanceof BackendConnectionError;
  if (!(err instanceof Error)) return false;
  const { code, level } = err as { code?: unknown; level?: unknown };
  if (typeof code === "number") return false; // an SFTP status: the server answered
  if (isLostOnTheWire(err)) return true;
  if (typeof level === "string" && LOST_LEVELS.has(level)) return true;
  return LOST_MESSAGES.test(err.message);
}

/** Translates an SFTP failure into core's error classes; connection loss → BackendConnectionError. */
export function toBackendError(err: unknown, name: string, what: string): Error {
  if (isBorgStoreError(err)) return err;
  if (isConnectionLost(err)) return new BackendConnectionError(`sftp connection lost during ${what}: ${messageOf(err)}`, { cause: err });
  if (isNoSuchFile(err)) return new ObjectNotFound(name, { cause: err });
  if (hasSftpStatus(err, SftpStatus.PERMISSION_DENIED))
    return new PermissionDenied(`sftp server denied ${what} of ${name || "(root)"}: ${messageOf(err)}`, { cause: err });
  return new BackendError(`sftp ${what} of ${name || "(root)"} failed: ${messageOf(err)}`, { cause: err });
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
