import {
  BackendConnectionError,
  BackendDoesNotExist,
  BackendError,
  BorgStoreError,
  ObjectNotFound,
  PermissionDenied,
} from "@borgstore/core";
import { isConnectionLost } from "@borgstore/core/backend";

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $fault?: string;
}

const ACCESS_CODES = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "InvalidToken",
  "ExpiredToken",
  "AuthorizationHeaderMalformed",
  "InvalidClientTokenId",
  "CredentialsProviderError",
]);

/** The SDK's own names for a request that timed out or never reached the service (socket codes: core's list). */
const SDK_CONNECTION_ERRORS = new Set(["TimeoutError", "RequestTimeout", "NetworkingError"]);

export function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

export function errorCode(err: unknown): string {
  const e = err as SdkError | undefined;
  return e?.name && e.name !== "Error" ? e.name : (e?.code ?? "UnknownError");
}

/** The object or key is missing (GET/HEAD/COPY answer 404 NoSuchKey or a bare NotFound). */
export function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === "NoSuchKey" || code === "NotFound" || (statusOf(err) === 404 && code !== "NoSuchBucket");
}

/** A ranged GET starting at or past the end of the object. */
export function isInvalidRange(err: unknown): boolean {
  return errorCode(err) === "InvalidRange" || statusOf(err) === 416;
}

/** A conditional request (If-Match) found another version of the object. */
export function isPreconditionFailed(err: unknown): boolean {
  return errorCode(err) === "PreconditionFailed" || statusOf(err) === 412;
}

/**
 * Turns an SDK failure into one of core's errors, keeping the SDK error as `cause`.
 * `what` names the operation and item for the message; `name` (when given) makes a 404 an ObjectNotFound.
 */
export function toBackendError(err: unknown, what: string, context: { bucket: string; name?: string }): Error {
  if (err instanceof BorgStoreError) return err;
  const code = errorCode(err);
  const status = statusOf(err);
  const detail = describe(err, code, status);
  if (code === "NoSuchBucket")
    return new BackendDoesNotExist(`S3 bucket does not exist: ${context.bucket} (${what})`, { cause: err });
  if (context.name !== undefined && isNotFound(err)) return new ObjectNotFound(context.name, { cause: err });
  if (code === "CredentialsProviderError")
    return new PermissionDenied(
      `S3 credentials could not be loaded (${what}): ${detail}; give them in the URL, a profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`,
      { cause: err },
    );
  if (ACCESS_CODES.has(code) || status === 403 || status === 401)
    return new PermissionDenied(
      `S3 denied access to bucket ${context.bucket} (${what}): ${detail}; check the access key, secret and permissions`,
      { cause: err },
    );
  if (SDK_CONNECTION_ERRORS.has(code) || isConnectionLost(err))
    return new BackendConnectionError(`S3 connection failed (${what}): ${detail}`, { cause: err });
  return new BackendError(`S3 error (${what}): ${detail}`, { cause: err });
}

function describe(err: unknown, code: string, status: number | undefined): string {
  const message = (err as SdkError | undefined)?.message;
  // A HEAD answer has no body, so the SDK's message is just "UnknownError".
  const text = message && message !== code && message !== "UnknownError" ? `: ${message}` : "";
  return `${code}${status ? ` (HTTP ${status})` : ""}${text}`;
}
