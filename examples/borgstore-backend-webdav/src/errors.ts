import { AuthenticationFailed, BackendError } from "@borgstore/core";

/**
 * An HTTP status the server failed with, as core's error. Not PermissionDenied for 403: that code means borgstore's own
 * permissions refused, and WebDAV servers answer 403 for many failures (rclone: any failed MOVE).
 */
export function toBackendError(status: number, method: string, url: string): Error {
  const message = `WebDAV ${method} ${url}: HTTP ${status}`;
  if (status === 401) return new AuthenticationFailed(message);
  return new BackendError(message);
}

/** A status the server answers for a moment (423 Locked while another request changes the resource): worth asking again. */
export class ServerBusy extends BackendError {}
