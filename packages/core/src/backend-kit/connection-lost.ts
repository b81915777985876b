import { BackendConnectionError, BorgStoreError } from "../errors.js";

/**
 * Error codes of Node sockets, DNS, streams and undici that mean "the connection broke, stalled or
 * could not be made", i.e. a fresh connection may well succeed. One list for every backend: the
 * reference counts Python's whole ConnectionError family (reset, aborted, refused), timeouts, EOF
 * and a failed name lookup as a lost connection, for REST and SFTP alike (docs/rest-protocol.md#reconnecting).
 */
export const CONNECTION_LOST_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
  "ESHUTDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

/** How deep the `cause` chain is followed (a wrapper of a wrapper of the socket error). */
const CAUSE_DEPTH = 5;

/**
 * True when `err`, or an error in its `cause` chain, is a lost connection that a reconnect may
 * cure: a {@link BackendConnectionError}, or an error whose string `code` is in
 * {@link CONNECTION_LOST_CODES}. Any other BorgStore error (ObjectNotFound, a BackendError that
 * already gave up, …) is an answer, not a lost connection, and ends the search.
 */
export function isConnectionLost(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < CAUSE_DEPTH; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BackendConnectionError) return true;
    if (e instanceof BorgStoreError) return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_LOST_CODES.has(code)) return true;
  }
  return false;
}
