import {
  AuthenticationFailed,
  BackendAlreadyExists,
  BackendDoesNotExist,
  BackendError,
  BackendMustBeOpen,
  BackendMustNotBeOpen,
  type BorgStoreError,
  type ErrorCode,
  ErrorCodes,
  InvalidArgument,
  InvalidName,
  ObjectNotFound,
  PermissionDenied,
  QuotaExceeded,
  ReadRangeError,
  UnsupportedHashAlgorithm,
} from "../errors.js";

/**
 * The status a server answers each error code with (docs/rest-protocol.md#errors-on-the-wire);
 * a code not listed is 500. Several codes share a status: the client tells them apart by the
 * message ({@link errorOfStatus}), which {@link wireMessage} makes sure it carries.
 */
export const STATUS_OF_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
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

/** The HTTP status for an error `code`. */
export function statusOfCode(code: ErrorCode): number {
  return STATUS_OF_CODE[code] ?? 500;
}

/** The text of a 422 (an upload that does not hash to its X-Content-hash-sha256), as the reference sends it. */
export const HASH_MISMATCH_TEXT = "Content hash verification failed, please retry";

/**
 * The message a reply for an error with `code` carries, given the error's own (already redacted)
 * `message`: the client tells 412's two classes apart by their phrases, which a backend may have
 * left out, and a 422 always says the reference's text.
 */
export function wireMessage(code: ErrorCode, message: string): string {
  const status = statusOfCode(code);
  if (status === 422) return HASH_MISMATCH_TEXT;
  if (code === ErrorCodes.BACKEND_MUST_BE_OPEN && !message.includes("must be open")) return "backend must be open";
  if (code === ErrorCodes.BACKEND_MUST_NOT_BE_OPEN && !message.includes("must not be open")) return "backend must not be open";
  if (status === 500 && message === "") return "Internal Server Error";
  return message;
}

/** An HTTP status the protocol gives no BorgStore meaning (406, 422, 5xx, …). */
export class HttpStatusError extends BackendError {
  /** The HTTP status code of the reply. */
  readonly status: number;
  /** `message` is the reply's (see {@link errorPageMessage}). */
  constructor(status: number, message: string) {
    super(`HTTP ${status}: ${message}`);
    this.status = status;
  }
}

/**
 * The message of an error response's body: servers answer with CPython's HTML error page
 * ("<p>Message: TEXT.</p>", only & < > " ' escaped) or with plain text.
 */
export function errorPageMessage(body: string): string {
  const page = /<p>Message: ([\s\S]*?)\.<\/p>/.exec(body);
  if (!page) return body.trim();
  return (page[1] ?? "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#x27;/g, "'")
    .replace(/&amp;/g, "&");
}

/** What a failed request was about, for the errors whose reply leaves it out. */
export interface RequestSubject {
  /** The item the request named ("" for the store itself). */
  name: string;
  /** The server and store, without credentials. */
  location: string;
}

/**
 * The error a non-2xx reply stands for, as the reference client raises it
 * (docs/rest-protocol.md#errors-on-the-wire). `message` is the reply's message
 * ({@link errorPageMessage}; "" for HEAD).
 */
export function errorOfStatus(status: number, message: string, about: RequestSubject): BorgStoreError {
  const { name, location } = about;
  switch (status) {
    case 404:
      // The server names what is missing (for defrag, a source rather than the target).
      return new ObjectNotFound(message || name);
    case 410:
      return new BackendDoesNotExist(message || location);
    case 409:
      return new BackendAlreadyExists(message || location);
    case 412:
      if (message.includes("must not be open")) return new BackendMustNotBeOpen(message);
      if (message.includes("must be open")) return new BackendMustBeOpen(message);
      return new BackendError(message || `HTTP 412 from ${location}`);
    case 403:
      return new PermissionDenied(message || name || location);
    case 401:
      // The body says only "Unauthorized" (nothing at all for HEAD); say what to check instead.
      return new AuthenticationFailed(
        `${location} refused the credentials (HTTP 401): check the user name and password in the URL ` +
          "(or BORGSTORE_REST_USERNAME / BORGSTORE_REST_PASSWORD) and the server's --username/--password",
      );
    case 507:
      return new QuotaExceeded(message);
    case 416:
      return new ReadRangeError(message);
    case 400: {
      const unsupported = /^Unsupported hash algorithm: (.*)$/.exec(message);
      if (unsupported) return new UnsupportedHashAlgorithm(unsupported[1] ?? "");
      if (/^name (must|is too long)/.test(message)) return new InvalidName(message);
      return new InvalidArgument(message);
    }
    default:
      return new HttpStatusError(status, message);
  }
}
