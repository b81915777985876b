import { type BorgStoreError, ErrorCodes, isBorgStoreError } from "@borgstore/core";

/** What an exception becomes on the wire (spec §6.1). */
export interface ErrorReply {
  /** HTTP status code. */
  status: number;
  /** Message shown in the error page, with the storage path redacted. */
  message: string;
  /** 422 is a short plain-text reply on a kept-alive connection, not an error page. */
  plain?: boolean;
}

const STATUS_BY_CODE: Readonly<Partial<Record<BorgStoreError["code"], number>>> = {
  [ErrorCodes.OBJECT_NOT_FOUND]: 404,
  [ErrorCodes.BACKEND_DOES_NOT_EXIST]: 410,
  [ErrorCodes.BACKEND_NOT_INSTALLED]: 410,
  [ErrorCodes.BACKEND_ALREADY_EXISTS]: 409,
  [ErrorCodes.BACKEND_MUST_BE_OPEN]: 412,
  [ErrorCodes.BACKEND_MUST_NOT_BE_OPEN]: 412,
  [ErrorCodes.PERMISSION_DENIED]: 403,
  [ErrorCodes.QUOTA_EXCEEDED]: 507,
  [ErrorCodes.READ_RANGE_ERROR]: 416,
  [ErrorCodes.INVALID_NAME]: 400,
  [ErrorCodes.INVALID_ARGUMENT]: 400,
  [ErrorCodes.UNSUPPORTED_HASH_ALGORITHM]: 400,
  [ErrorCodes.CONTENT_LENGTH_MISMATCH]: 400,
  [ErrorCodes.CONTENT_HASH_MISMATCH]: 422,
};

export const HASH_MISMATCH_TEXT = "Content hash verification failed, please retry";

/**
 * Maps an exception to status and message. Messages of errors we did not raise on purpose are
 * never shown (they may carry paths); `location` (the storage base) is replaced by
 * `[STORAGE_BASE]` in the rest.
 */
export function errorReply(thrown: unknown, location: string | undefined): ErrorReply {
  const err = specific(thrown);
  if (!isBorgStoreError(err) || (err.code === ErrorCodes.BACKEND_ERROR && isForeign(err.cause))) return { status: 500, message: "Internal Server Error" };
  const status = STATUS_BY_CODE[err.code] ?? 500;
  if (status === 422) return { status, message: HASH_MISMATCH_TEXT, plain: true };
  let message = redact(err.message, location);
  // The Python client maps 412 by these phrases (spec §6.2); posixfs may raise without a text.
  if (err.code === ErrorCodes.BACKEND_MUST_BE_OPEN && !message.includes("must be open"))
    message = "backend must be open";
  if (err.code === ErrorCodes.BACKEND_MUST_NOT_BE_OPEN && !message.includes("must not be open"))
    message = "backend must not be open";
  if (status === 500 && message === "") message = "Internal Server Error";
  return { status, message };
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
