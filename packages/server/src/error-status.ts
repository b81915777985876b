import { ErrorCodes, isBorgStoreError } from "@borgstore/core";
import { statusOfCode, wireMessage } from "@borgstore/core/rest-protocol";

/** What an exception becomes on the wire (docs/rest-protocol.md#errors-on-the-wire). */
export interface ErrorReply {
  /** HTTP status code. */
  status: number;
  /** Message shown in the error page, with the storage path redacted. */
  message: string;
  /** 422 is a short plain-text reply on a kept-alive connection, not an error page. */
  plain?: boolean;
}

/**
 * Maps an exception to status and message. Messages of errors we did not raise on purpose are
 * never shown (they may carry paths); `location` (the storage base) is replaced by
 * `[STORAGE_BASE]` in the rest.
 */
export function errorReply(thrown: unknown, location: string | undefined): ErrorReply {
  const err = specific(thrown);
  if (!isBorgStoreError(err) || (err.code === ErrorCodes.BACKEND_ERROR && isForeign(err.cause))) return { status: 500, message: "Internal Server Error" };
  const status = statusOfCode(err.code);
  const message = wireMessage(err.code, redact(err.message, location));
  return status === 422 ? { status, message, plain: true } : { status, message };
}

/** A generic BackendError wrapping one of our own errors (e.g. a failed upload check) is that error. */
function specific(err: unknown): unknown {
  let current = err;
  while (isBorgStoreError(current, ErrorCodes.BACKEND_ERROR) && isBorgStoreError(current.cause)) current = current.cause;
  return current;
}

/**
 * A BackendError wrapping something we did not raise (an OS error such as ENOTEMPTY, Node's
 * ERR_BUFFER_TOO_LARGE, a library's error) carries that error's text, which may name paths or
 * internals: the reference answers OS errors with a bare 500, and so do we for all of them.
 */
function isForeign(cause: unknown): boolean {
  return cause !== undefined && !isBorgStoreError(cause);
}

/** Replaces every occurrence of the storage location (and its trailing-slash-less form). */
export function redact(message: string, location: string | undefined): string {
  if (!location) return message;
  let out = message;
  const forms = new Set([location, location.replace(/\/+$/, "")]);
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (form.length > 1) out = out.split(form).join("[STORAGE_BASE]");
  }
  return out;
}
