import { BackendConnectionError, BackendError } from "@borgstore/core";

// Error codes of Node sockets and undici that mean "the connection broke or stalled", i.e. a
// fresh connection may well succeed (docs/rest-protocol.md#reconnecting).
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
  "EAI_AGAIN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

/** True when `err` (or a cause of it) is a lost connection that a reconnect may cure. */
export function isConnectionLost(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof BackendConnectionError) return true;
    if (e instanceof BackendError) return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  }
  return false;
}

/** Wraps a transport failure as BackendConnectionError when it is one; other errors pass unchanged. */
export function asConnectionError(err: unknown, what: string): unknown {
  if (err instanceof BackendConnectionError || !isConnectionLost(err)) return err;
  return new BackendConnectionError(`${what}: ${(err as Error).message ?? err}`, { cause: err });
}
