import { isBorgStoreError } from "@borgstore/core";
import { UsageError } from "./exit-codes.js";

/**
 * How a failure reads on stderr: `borgstore: CODE: message` for the project's errors (the code is
 * what scripts match); a system error's code only when its message does not already start with it
 * (Node writes "ENOENT: no such file…"); a usage error with the pointer to --help.
 */
export function errorLine(err: unknown): string {
  if (err instanceof UsageError) return `borgstore: ${err.message} (see borgstore --help)`;
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (code === undefined || (!isBorgStoreError(err) && message.startsWith(code))) return `borgstore: ${message}`;
  return `borgstore: ${code}: ${message}`;
}
