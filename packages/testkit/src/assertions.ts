import { AssertionError } from "node:assert";
import type { ErrorCode } from "@borgstore/core";

/** What the suite expects of every error a backend throws: core's shape (code, name, message). */
export interface CodedError extends Error {
  /** The stable error code, e.g. OBJECT_NOT_FOUND. */
  code: string;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Partial<CodedError>).code;
    return `${err.name}${code === undefined ? " (no code)" : ` [${String(code)}]`}: ${err.message}`;
  }
  return `a non-Error value: ${String(err)}`;
}

/**
 * Awaits `action` and checks it rejects with an error whose `code` is `code` (and whose message
 * matches `message`, when given). Codes are compared, not classes, so a backend built against
 * another copy of @borgstore/core still passes. Returns the error for further checks.
 */
export async function expectCode(
  action: Promise<unknown> | (() => unknown),
  code: ErrorCode,
  message?: string | RegExp,
): Promise<CodedError> {
  let outcome: unknown;
  try {
    outcome = await (typeof action === "function" ? action() : action);
  } catch (err) {
    if (!(err instanceof Error) || (err as Partial<CodedError>).code !== code)
      throw new AssertionError({ message: `expected an error with code ${code}, got ${describeError(err)}` });
    if (message !== undefined) {
      const matches = typeof message === "string" ? err.message.includes(message) : message.test(err.message);
      if (!matches)
        throw new AssertionError({
          message: `expected the ${code} error's message to match ${String(message)}, got: ${err.message}`,
        });
    }
    return err as CodedError;
  }
  throw new AssertionError({
    message: `expected an error with code ${code}, but the operation succeeded${outcome === undefined ? "" : ` with ${String(outcome).slice(0, 80)}`}`,
  });
}

/**
 * Checks two byte sequences are equal without printing megabytes on failure: reports the lengths
 * and the first differing offset instead.
 */
export function expectSameBytes(actual: unknown, expected: Uint8Array, what = "value"): void {
  if (!(actual instanceof Uint8Array))
    throw new AssertionError({ message: `${what}: expected a Uint8Array, got ${Object.prototype.toString.call(actual)}` });
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(e)) return;
  let at = 0;
  const common = Math.min(a.length, e.length);
  while (at < common && a[at] === e[at]) at++;
  const context = (b: Buffer) => b.subarray(at, at + 16).toString("hex");
  throw new AssertionError({
    message:
      `${what}: expected ${e.length} bytes, got ${a.length}; first difference at offset ${at} ` +
      `(expected ${context(e) || "end"}, got ${context(a) || "end"})`,
  });
}
