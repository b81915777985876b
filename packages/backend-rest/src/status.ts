import {
  AuthenticationFailed,
  BackendAlreadyExists,
  BackendConnectionError,
  BackendDoesNotExist,
  BackendError,
  BackendMustBeOpen,
  BackendMustNotBeOpen,
  type BorgStoreError,
  InvalidArgument,
  InvalidName,
  ObjectNotFound,
  PermissionDenied,
  QuotaExceeded,
  ReadRangeError,
  UnsupportedHashAlgorithm,
} from "@borgstore/core";
import { isConnectionLost } from "@borgstore/core/backend";

/** An HTTP status the protocol gives no BorgStore meaning (406, 422, 5xx, …). */
export class HttpStatusError extends BackendError {
  /** The HTTP status code of the reply. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(`HTTP ${status}: ${message}`);
    this.status = status;
  }
}

/**
 * The message of an error response: servers answer with CPython's HTML error page
 * ("<p>Message: TEXT.</p>", only & < > escaped) or with plain text.
 */
export function errorMessage(body: string): string {
  const page = /<p>Message: ([\s\S]*?)\.<\/p>/.exec(body);
  if (!page) return body.trim();
  return (page[1] ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, "&");
}

/**
 * Maps a non-2xx status to the error the reference client raises (spec §6.2). `name` is the item
 * the request was about (ObjectNotFound carries it), `location` the target without credentials.
 */
export function statusError(status: number, body: string, name: string, location: string): BorgStoreError {
  const message = errorMessage(body);
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
      // `location` never holds the credentials.
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

/** Wraps a transport failure as BackendConnectionError when it is one; other errors pass unchanged. */
export function asConnectionError(err: unknown, what: string): unknown {
  if (err instanceof BackendConnectionError || !isConnectionLost(err)) return err;
  return new BackendConnectionError(`${what}: ${(err as Error).message ?? err}`, { cause: err });
}
