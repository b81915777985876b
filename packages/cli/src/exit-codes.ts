import { type ErrorCode, ErrorCodes, isBorgStoreError } from "@borgstore/core";

/** One exit code per error code, so scripts can tell failures apart. Documented in the README. */
export const EXIT_CODES: Readonly<Partial<Record<ErrorCode, number>>> = {
  [ErrorCodes.OBJECT_NOT_FOUND]: 3,
  [ErrorCodes.BACKEND_DOES_NOT_EXIST]: 4,
  [ErrorCodes.BACKEND_ALREADY_EXISTS]: 5,
  [ErrorCodes.PERMISSION_DENIED]: 6,
  [ErrorCodes.QUOTA_EXCEEDED]: 7,
  [ErrorCodes.INVALID_NAME]: 8,
  [ErrorCodes.INVALID_ARGUMENT]: 8,
  [ErrorCodes.UNSUPPORTED_HASH_ALGORITHM]: 8,
  [ErrorCodes.BACKEND_URL_INVALID]: 9,
  [ErrorCodes.BACKEND_NOT_INSTALLED]: 9,
  [ErrorCodes.NO_BACKEND_GIVEN]: 9,
  [ErrorCodes.BACKEND_CONNECTION_ERROR]: 10,
  [ErrorCodes.READ_RANGE_ERROR]: 11,
  [ErrorCodes.CONTENT_HASH_MISMATCH]: 12,
  [ErrorCodes.CONTENT_LENGTH_MISMATCH]: 12,
  [ErrorCodes.BACKEND_MUST_BE_OPEN]: 13,
  [ErrorCodes.BACKEND_MUST_NOT_BE_OPEN]: 13,
  [ErrorCodes.AUTHENTICATION_FAILED]: 14,
  // As a shell reports Ctrl-C (128 + SIGINT); a SIGTERM exits with 143.
  [ErrorCodes.ABORTED]: 130,
};

/** The exit codes as --help lists them. */
export const EXIT_CODES_HELP = `
Exit codes:
  0 success, 1 other failure, 2 bad command line, 3 not found, 4 no store at URL,
  5 store already exists, 6 permission denied, 7 quota exceeded, 8 invalid name or argument,
  9 bad URL, 10 connection lost, 11 read range error, 12 content hash/length mismatch,
  13 wrong open state, 14 authentication failed (check user name and password in the URL),
  15 check found damage it did not repair,
  130 interrupted by Ctrl-C (143: SIGTERM; nothing partial is left behind)
`;

/** `check` found damage it did not (or could not) repair. */
export const DAMAGE_EXIT_CODE = 15;
/** Bad command line. */
export const USAGE_EXIT_CODE = 2;
/** Any other failure. */
export const GENERIC_EXIT_CODE = 1;

/** A command line that cannot be run as given (missing store URL, …): exit 2, with a hint. */
export class UsageError extends Error {}

/** The process exit code for `err`: the code's own for a BorgStoreError, else GENERIC_EXIT_CODE. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return USAGE_EXIT_CODE;
  if (isBorgStoreError(err)) return EXIT_CODES[err.code] ?? GENERIC_EXIT_CODE;
  return GENERIC_EXIT_CODE;
}
