import { BackendError } from "@borgstore/core";
import { parseContentRange, resolveRange } from "@borgstore/core/backend";
import { parseRange } from "@borgstore/core/rest-protocol";

/**
 * Why a GET's answer is not the range it asked for (`bytes=S-`, `bytes=S-E`, `bytes=-N`, as
 * planRangeRequest formats them), or undefined when it is: a 200 with the whole object (a service
 * that ignores Range), or a 206 whose Content-Range starts or ends elsewhere or disagrees with its
 * Content-Length, would otherwise be handed out as the slice. The slice the range names is read as
 * the REST server reads it (for these three forms plain RFC 9110).
 */
export function rangeAnswerMismatch(
  range: string,
  status: number | undefined,
  contentRange: string | undefined,
  length: number | undefined,
): string | undefined {
  if (status !== 206) return `answered ${status ?? "?"} without the range ${range}`;
  const { first, last, total } = parseContentRange(contentRange) ?? {};
  if (first === undefined || last === undefined) return `answered ${range} with Content-Range ${JSON.stringify(contentRange ?? null)}`;
  const asked = parseRange(range);
  const offset = asked.offset ?? 0;
  // Without the object's length (`/*`) only an absolute start can be checked.
  const want = total === undefined ? { start: offset < 0 ? first : offset, end: undefined } : resolveRange(asked, total);
  if (first !== want.start || (want.end !== undefined && last !== want.end - 1)) return `answered ${range} with the range ${contentRange}`;
  if (length !== undefined && length !== last - first + 1) return `answered ${contentRange} with ${length} bytes`;
  return undefined;
}

/** Throws a BackendError when the answer to `range` is not that range (see rangeAnswerMismatch). */
export function checkRangeAnswer(what: string, range: string | undefined, status: number | undefined, contentRange: string | undefined, length: number | undefined): void {
  if (range === undefined) return;
  const mismatch = rangeAnswerMismatch(range, status, contentRange, length);
  if (mismatch) throw new BackendError(`${what}: the service ${mismatch}`);
}
