/**
 * Error classes mirroring the Python reference's hierarchy. Every error carries a stable,
 * upper-case `code` that is part of the public API (messages may change, codes never do).
 */

/** Every error code, by name: compare `err.code` with these. */
export const ErrorCodes = {
  /** Code of {@link BackendError}. */
  BACKEND_ERROR: "BACKEND_ERROR",
  /** Code of {@link BackendURLInvalid}. */
  BACKEND_URL_INVALID: "BACKEND_URL_INVALID",
  /** Code of {@link BackendDoesNotExist}. */
  BACKEND_DOES_NOT_EXIST: "BACKEND_DOES_NOT_EXIST",
  /** Code of {@link BackendAlreadyExists}. */
  BACKEND_ALREADY_EXISTS: "BACKEND_ALREADY_EXISTS",
  /** Code of {@link BackendMustBeOpen}. */
  BACKEND_MUST_BE_OPEN: "BACKEND_MUST_BE_OPEN",
  /** Code of {@link BackendMustNotBeOpen}. */
  BACKEND_MUST_NOT_BE_OPEN: "BACKEND_MUST_NOT_BE_OPEN",
  /** Code of {@link BackendConnectionError}. */
  BACKEND_CONNECTION_ERROR: "BACKEND_CONNECTION_ERROR",
  /** Code of {@link BackendNotInstalled}. */
  BACKEND_NOT_INSTALLED: "BACKEND_NOT_INSTALLED",
  /** Code of {@link NoBackendGiven}. */
  NO_BACKEND_GIVEN: "NO_BACKEND_GIVEN",
  /** Code of {@link ObjectNotFound}. */
  OBJECT_NOT_FOUND: "OBJECT_NOT_FOUND",
  /** Code of {@link PermissionDenied}. */
  PERMISSION_DENIED: "PERMISSION_DENIED",
  /** Code of {@link QuotaExceeded}. */
  QUOTA_EXCEEDED: "QUOTA_EXCEEDED",
  /** Code of {@link ReadRangeError}. */
  READ_RANGE_ERROR: "READ_RANGE_ERROR",
  /** Code of {@link InvalidName}. */
  INVALID_NAME: "INVALID_NAME",
  /** Code of {@link InvalidArgument}. */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** Code of {@link UnsupportedHashAlgorithm}. */
  UNSUPPORTED_HASH_ALGORITHM: "UNSUPPORTED_HASH_ALGORITHM",
  /** Code of {@link ContentHashMismatch}. */
  CONTENT_HASH_MISMATCH: "CONTENT_HASH_MISMATCH",
  /** Code of {@link ContentLengthMismatch}. */
  CONTENT_LENGTH_MISMATCH: "CONTENT_LENGTH_MISMATCH",
  /** Code of {@link Aborted}. */
  ABORTED: "ABORTED",
  /** Code of {@link AuthenticationFailed}. */
  AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
} as const;

/** One of the stable error codes in ErrorCodes. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Options of every error constructor. */
export interface BorgStoreErrorOptions {
  /** The error that caused this one (becomes `Error.cause`). */
  cause?: unknown;
}

/**
 * Marks an error made by any copy of this package with the names of its classes. Two copies of
 * core (a plugin resolving its own, an application bundling another version) each have their own
 * classes, so plain `instanceof` would say no; the shared symbol lets every copy recognise the
 * others' errors by class name, which is as stable as the codes.
 */
const CLASS_NAMES = Symbol.for("@borgstore/core.error-classes");

function classNames(target: abstract new (...args: never[]) => unknown): string[] {
  const names: string[] = [];
  for (let c: unknown = target; typeof c === "function" && c !== Error; c = Object.getPrototypeOf(c))
    if (c.name) names.push(c.name);
  return names;
}

/** Base of every error this project throws on purpose. */
export class BorgStoreError extends Error {
  /** Stable, upper-case code of the error (see ErrorCodes); part of the public API. */
  readonly code: ErrorCode;
  /** @internal The names of the error's classes, for `instanceof` across copies of core. */
  declare readonly [CLASS_NAMES]: readonly string[];

  constructor(code: ErrorCode, message: string, options?: BorgStoreErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, CLASS_NAMES, { value: classNames(new.target) });
  }

  /** `err instanceof ObjectNotFound` also holds for an ObjectNotFound made by another copy of core. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class right of instanceof (a subclass too).
    const target = this as unknown as { name: string };
    if (Function.prototype[Symbol.hasInstance].call(target, value)) return true;
    if (typeof value !== "object" || value === null) return false;
    const names = (value as { [CLASS_NAMES]?: unknown })[CLASS_NAMES];
    return Array.isArray(names) && names.includes(target.name);
  }
}

/** Reference: BackendError. Any storage failure without a more specific class. */
export class BackendError extends BorgStoreError {
  constructor(message: string, options?: BorgStoreErrorOptions, code: ErrorCode = ErrorCodes.BACKEND_ERROR) {
    super(code, message, options);
  }
}

function backendErrorClass(code: ErrorCode) {
  return class extends BackendError {
    constructor(message = "", options?: BorgStoreErrorOptions) {
      super(message, options, code);
    }
  };
}

/** Reference: BackendURLInvalid. */
export class BackendURLInvalid extends backendErrorClass(ErrorCodes.BACKEND_URL_INVALID) {}
/** Reference: BackendDoesNotExist. Also thrown when a scheme's package is not installed (see BackendNotInstalled). */
export class BackendDoesNotExist extends backendErrorClass(ErrorCodes.BACKEND_DOES_NOT_EXIST) {}
/** Reference: BackendAlreadyExists. */
export class BackendAlreadyExists extends backendErrorClass(ErrorCodes.BACKEND_ALREADY_EXISTS) {}
/** Reference: BackendMustBeOpen. */
export class BackendMustBeOpen extends backendErrorClass(ErrorCodes.BACKEND_MUST_BE_OPEN) {}
/** Reference: BackendMustNotBeOpen. */
export class BackendMustNotBeOpen extends backendErrorClass(ErrorCodes.BACKEND_MUST_NOT_BE_OPEN) {}
/** Reference: BackendConnectionError. The connection was lost; retryable. */
export class BackendConnectionError extends backendErrorClass(ErrorCodes.BACKEND_CONNECTION_ERROR) {}
/** Reference: ObjectNotFound. The message is the name that was not found. */
export class ObjectNotFound extends backendErrorClass(ErrorCodes.OBJECT_NOT_FOUND) {}
/** Reference: PermissionDenied. */
export class PermissionDenied extends backendErrorClass(ErrorCodes.PERMISSION_DENIED) {}
/** Reference: QuotaExceeded. */
export class QuotaExceeded extends backendErrorClass(ErrorCodes.QUOTA_EXCEEDED) {}
/** Reference: ReadRangeError. */
export class ReadRangeError extends backendErrorClass(ErrorCodes.READ_RANGE_ERROR) {}

/**
 * The server refused the credentials (REST: HTTP 401). The reference raises a plain BackendError;
 * this subclass keeps that true and gives the case a code of its own.
 */
export class AuthenticationFailed extends backendErrorClass(ErrorCodes.AUTHENTICATION_FAILED) {}

/** A URL scheme is known but its package is not installed. Subclass of BackendDoesNotExist, as the reference raises that. */
export class BackendNotInstalled extends BackendDoesNotExist {
  /** The npm package that provides the URL scheme. */
  readonly packageName: string;
  constructor(packageName: string, scheme: string, options?: BorgStoreErrorOptions) {
    super(`URL scheme "${scheme}" needs the package ${packageName}: install it with "npm install ${packageName}"`, options);
    (this as { code: ErrorCode }).code = ErrorCodes.BACKEND_NOT_INSTALLED;
    this.packageName = packageName;
  }
}

/** Reference: NoBackendGiven (Store got neither url nor backend). */
export class NoBackendGiven extends BorgStoreError {
  constructor(message = "No backend given", options?: BorgStoreErrorOptions) {
    super(ErrorCodes.NO_BACKEND_GIVEN, message, options);
  }
}

/** Reference: ValueError / TypeError for bad arguments. Servers map it to 400. */
export class InvalidArgument extends BorgStoreError {
  constructor(message: string, options?: BorgStoreErrorOptions, code: ErrorCode = ErrorCodes.INVALID_ARGUMENT) {
    super(code, message, options);
  }
}

/** A name failed validation (reference: ValueError/TypeError from validate_name). */
export class InvalidName extends InvalidArgument {
  constructor(message: string, options?: BorgStoreErrorOptions) {
    super(message, options, ErrorCodes.INVALID_NAME);
  }
}

/** Reference: ValueError("Unsupported hash algorithm: NAME"). */
export class UnsupportedHashAlgorithm extends InvalidArgument {
  /** The algorithm name that was refused. */
  readonly algorithm: string;
  constructor(algorithm: string, options?: BorgStoreErrorOptions) {
    super(`Unsupported hash algorithm: ${algorithm}`, options, ErrorCodes.UNSUPPORTED_HASH_ALGORITHM);
    this.algorithm = algorithm;
  }
}

/** A streamed upload's bytes did not match the expected SHA-256 (REST: 422). Nothing was stored. */
export class ContentHashMismatch extends BorgStoreError {
  constructor(message = "Content hash verification failed, please retry", options?: BorgStoreErrorOptions) {
    super(ErrorCodes.CONTENT_HASH_MISMATCH, message, options);
  }
}

/** A streamed upload delivered more or fewer bytes than announced. Nothing was stored. */
export class ContentLengthMismatch extends BorgStoreError {
  constructor(message: string, options?: BorgStoreErrorOptions) {
    super(ErrorCodes.CONTENT_LENGTH_MISMATCH, message, options);
  }
}

/**
 * The caller's AbortSignal fired. A store that rejects with it stored nothing; `cause` is the
 * signal's reason.
 */
export class Aborted extends BorgStoreError {
  constructor(message = "the operation was aborted", options?: BorgStoreErrorOptions) {
    super(ErrorCodes.ABORTED, message, options);
  }
}

/** True for an error of this project (made by any copy of core), with `code` if given. */
export function isBorgStoreError(err: unknown, code?: ErrorCode): err is BorgStoreError {
  return err instanceof BorgStoreError && (code === undefined || err.code === code);
}
