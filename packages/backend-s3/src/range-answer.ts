import { BackendError } from "@borgstore/core";

/**
 * Why a GET's answer is not the range it asked for (`bytes=S-`, `bytes=S-E`, `bytes=-N`), or
 * undefined when it is: a 200 with the whole object (a service that ignores Range), or a 206
 * whose Content-Range starts or ends elsewhere or disagrees with its Content-Length, would
 * otherwise be handed out as the slice.
 */
export function rangeAnswerMismatch(
  range: string,
  status: number | undefined,
  contentRange: string | undefined,
  length: number | undefined,
): string | undefined {
  if (status !== 206) return `answered ${status ?? "?"} without the range ${range}`;
  const got = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? "");
  if (!got) return `answered ${range} with Content-Range ${JSON.stringify(contentRange ?? null)}`;
  const [first, last] = [Number(got[1]), Number(got[2])];
  const asked = /^bytes=(\d*)-(\d*)$/.exec(range);
  if (!asked) return undefined;
  const total = got[3] === "*" ? undefined : Number(got[3]);
  const suffix = asked[1] === "";
  const start = suffix ? (total === undefined ? first : Math.max(0, total - Number(asked[2]))) : Number(asked[1]);
  const lastWanted = !suffix && asked[2] !== "" ? Number(asked[2]) : undefined;
  const endOk = total === undefined || last === (lastWanted === undefined ? total - 1 : Math.min(lastWanted, total - 1));
  if (first !== start || !endOk) return `answered ${range} with the range ${contentRange}`;
  if (length !== undefined && length !== last - first + 1) return `answered ${contentRange} with ${length} bytes`;
  return undefined;
}

/** Throws a BackendError when the answer to `range` is not that range (see rangeAnswerMismatch). */
export function checkRangeAnswer(what: string, range: string | undefined, status: number | undefined, contentRange: string | undefined, length: number | undefined): void {
  if (range === undefined) return;
  const mismatch = rangeAnswerMismatch(range, status, contentRange, length);
  if (mismatch) throw new BackendError(`${what}: the service ${mismatch}`);
}
