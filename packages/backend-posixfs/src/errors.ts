import { BackendError, BorgStoreError, ObjectNotFound } from "@borgstore/core";

/** The errno code of a Node system error, if it is one. */
export function errnoOf(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

export function isMissing(err: unknown): boolean {
  const code = errnoOf(err);
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * An OS error as core's error: with `name`, a missing file or directory (ENOENT, ENOTDIR) is
 * ObjectNotFound(name); other OS errors become BackendError (cause kept); our own errors and
 * whatever a caller's source threw pass through unchanged.
 */
export function toBackendError(err: unknown, name?: string): unknown {
  if (name !== undefined && isMissing(err)) return new ObjectNotFound(name, { cause: err });
  if (err instanceof BorgStoreError || errnoOf(err) === undefined) return err;
  return new BackendError(err instanceof Error ? err.message : String(err), { cause: err });
}
