import { BackendConnectionError, BackendError, BorgStoreError } from "@borgstore/core";
import { isConnectionLost } from "@borgstore/core/backend";

/** undici's own way of saying it stopped a request because its signal fired: the caller's abort, left as it is. */
const ABORT_CODES: ReadonlySet<string> = new Set(["UND_ERR_ABORT", "UND_ERR_ABORTED"]);

/**
 * A transport failure as core's error: `err` as a BackendConnectionError when it is a lost connection (the kit's isConnectionLost:
 * a fresh connection may well succeed, docs/rest-protocol.md#reconnecting). undici's pool torn down under a request
 * (UND_ERR_DESTROYED, by close) is one too: retrying checks whether the backend is still open.
 * Every other undici error (a reply its parser refused: garbage, oversized headers, a bad Content-Length; a request it
 * cannot send) is a BackendError: the peer is not speaking HTTP as borgstore needs it, and a fresh connection
 * would only hear the same. Anything else (the caller's abort, an upload source's own error) stays as it is.
 * What the server answered with an HTTP status maps through `@borgstore/core/rest-protocol`, shared with the server.
 */
export function toBackendError(err: unknown, what: string): unknown {
  if (err instanceof BorgStoreError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = `${what}: ${(err as Error | undefined)?.message ?? err}`;
  if (isConnectionLost(err) || code === "UND_ERR_DESTROYED") return new BackendConnectionError(message, { cause: err });
  if (typeof code === "string" && ABORT_CODES.has(code)) return err;
  return isUndiciError(err, code) ? new BackendError(message, { cause: err }) : err;
}

/** An error undici made (its parser's errors may come without a code). */
function isUndiciError(err: unknown, code: unknown): boolean {
  if (typeof code === "string") return code.startsWith("UND_ERR") || code.startsWith("HPE_");
  return err instanceof Error && err.name === "HTTPParserError";
}
