import { BackendError, InvalidArgument } from "../errors.js";
import { isWholeValue, resolveRange } from "../range.js";
import { parseRange } from "../rest-protocol/range.js";
import type { ByteSource, LoadOptions } from "../types.js";

/** How to fetch the part of a value a load asks for over a protocol with HTTP-style byte ranges. */
export interface RangeRequest {
  /** The `Range` header value (`bytes=a-b`, `bytes=a-`, `bytes=-n`); absent: fetch the whole value. */
  range?: string;
  /** Keep only this many leading bytes of the reply: a whole tail was fetched for a slice of it. */
  keep?: number;
  /**
   * The value length the range's start was computed from: a reply about a value of another length
   * (its Content-Range total, or an ETag check) means the name was overwritten in between and the
   * bytes come from the wrong place of another value.
   */
  expectTotal?: number;
}

/**
 * A tail slice at most this much shorter than its tail is fetched as the whole tail (one suffix
 * request, then cut) rather than as an exact range after asking the length. The extra bytes cost
 * at most TAIL_SLACK / bandwidth, the length look-up one round trip: 64 KiB is about one round trip
 * on a slow link (10 Mbit/s at 50 ms), so the suffix is never much dearer than what it saves, while
 * the exact range needs a second request and a check that the value did not change in between.
 */
export const TAIL_SLACK = 64 * 1024;

/**
 * Plans the request for `options` (validated: integer offset, size ≥ 0 or absent). Undefined: nothing
 * to fetch, the answer is empty bytes (size 0, or an empty range of a value of known length).
 * `total` is the value's length when known, or a function that asks for it; it is used (and a
 * function called) only for a short slice far from the end, which is then fetched exactly with
 * `expectTotal`. Without `total` such a slice is fetched as its whole tail and cut.
 * With a known length every range is exact. Only a load of the whole value goes without a Range
 * header: a range computed from a length always carries that length as `expectTotal`, since the
 * name may hold a value of another length by the time the request arrives.
 */
export async function planRangeRequest(
  options: LoadOptions,
  total?: number | (() => Promise<number>),
): Promise<RangeRequest | undefined> {
  const offset = options.offset ?? 0;
  const size = options.size ?? undefined;
  if (size === 0) return undefined;
  if (isWholeValue(options)) return {};
  if (typeof total === "number") return exactRange(options, total);
  if (offset >= 0) return { range: formatRange(offset, size) };
  const tail = -offset;
  if (size === undefined || size >= tail) return { range: formatRange(offset) };
  if (tail - size <= TAIL_SLACK || total === undefined) return { range: formatRange(offset), keep: size };
  return exactRange(options, await total());
}

function exactRange(options: LoadOptions, total: number): RangeRequest | undefined {
  const { start, end } = resolveRange(options, total);
  if (end <= start) return undefined;
  return { range: formatRange(start, end - start), expectTotal: total };
}

/**
 * The Range header for `size` bytes from `offset` (a negative offset counts from the end):
 * `bytes=A-B`, `bytes=A-` (to the end) or `bytes=-K` (the last K bytes). InvalidArgument for what
 * one header cannot say: no bytes (size 0, which the reference's `bytes=0--1` got wrong) and a
 * slice of a tail (fetch the tail and cut it). The one formatter: clients send what
 * {@link planRangeRequest} plans with it, and the REST protocol's parseRange reads it back
 * (docs/rest-protocol.md#ranges).
 */
export function formatRange(offset: number, size?: number): string {
  if (size === 0) throw new InvalidArgument("a Range header cannot ask for 0 bytes");
  if (offset >= 0) return size === undefined ? `bytes=${offset}-` : `bytes=${offset}-${offset + size - 1}`;
  if (size !== undefined) throw new InvalidArgument("a Range header cannot ask for a slice of a tail");
  return `bytes=${offset}`;
}

/** A `Content-Range` header's parts: `first`-`last` (absent for `bytes *` + `/total`), `total` (absent for `bytes a-b/` + `*`). */
export interface ContentRange {
  /** Offset of the first byte sent; undefined when the range part is "*". */
  first?: number;
  /** Offset of the last byte sent (inclusive); undefined when the range part is "*". */
  last?: number;
  /** Length of the whole value; undefined when the total is "*". */
  total?: number;
}

const CONTENT_RANGE = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i;

/** Parses `Content-Range: bytes a-b/total` (or with `*` for either part, not both); undefined when absent or malformed. */
export function parseContentRange(header: string | undefined): ContentRange | undefined {
  const match = header === undefined ? null : CONTENT_RANGE.exec(header.trim());
  if (!match || (match[1] === undefined && match[3] === "*")) return undefined;
  const [first, last, total] = [match[1], match[2], match[3] === "*" ? undefined : match[3]].map((n) => (n === undefined ? undefined : Number(n)));
  if (![first, last, total].every((n) => n === undefined || Number.isSafeInteger(n))) return undefined;
  return { first, last, total };
}

/** The complete length in a `Content-Range: bytes a-b/total` (or `bytes *` + `/total`); undefined when absent or `*`. */
export function contentRangeTotal(header: string | undefined): number | undefined {
  return parseContentRange(header)?.total;
}

/**
 * The first `keep` bytes of `source` (a reply to a {@link RangeRequest} with `keep`). The rest, at
 * most {@link TAIL_SLACK} bytes, is read and dropped, so a keep-alive connection stays usable.
 */
export async function* firstBytes(source: ByteSource, keep: number): ByteSource {
  let left = keep;
  for await (const chunk of source) {
    if (left <= 0) continue;
    const piece = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
    left -= piece.byteLength;
    yield piece;
  }
}

/**
 * Why a GET's answer is not the range it asked for (`bytes=S-`, `bytes=S-E`, `bytes=-N`, as
 * planRangeRequest formats them), or undefined when it is: a 200 with the whole object (a service
 * that ignores Range), or a 206 whose Content-Range starts or ends elsewhere or disagrees with its
 * Content-Length, would otherwise be handed out as the slice. The slice the range names is read as
 * the REST server reads it (for these three forms plain RFC 9110). With `contentRangeOptional`, a
 * 206 without Content-Range is taken as the range (the Python REST server sends none).
 */
export function rangeAnswerMismatch(
  range: string,
  status: number | undefined,
  contentRange: string | undefined,
  length: number | undefined,
  contentRangeOptional = false,
): string | undefined {
  if (status !== 206) return `answered ${status ?? "?"} without the range ${range}`;
  if (contentRange === undefined && contentRangeOptional) return undefined;
  const { first, last, total } = parseContentRange(contentRange) ?? {};
  const asked = parseRange(range);
  // `bytes */total`: no bytes, right when the range holds none of a value that long (our server's answer past the end).
  if (first === undefined && total !== undefined) {
    const empty = resolveRange(asked, total);
    if (empty.end <= empty.start && !length) return undefined;
  }
  if (first === undefined || last === undefined) return `answered ${range} with Content-Range ${JSON.stringify(contentRange ?? null)}`;
  const offset = asked.offset ?? 0;
  // Without the object's length (`/*`) only an absolute start can be checked.
  const want = total === undefined ? { start: offset < 0 ? first : offset, end: undefined } : resolveRange(asked, total);
  if (first !== want.start || (want.end !== undefined && last !== want.end - 1)) return `answered ${range} with the range ${contentRange}`;
  if (length !== undefined && length !== last - first + 1) return `answered ${contentRange} with ${length} bytes`;
  return undefined;
}

/** Throws a BackendError when the answer to `range` is not that range (see rangeAnswerMismatch). */
export function checkRangeAnswer(
  what: string,
  range: string | undefined,
  status: number | undefined,
  contentRange: string | undefined,
  length: number | undefined,
  contentRangeOptional = false,
): void {
  if (range === undefined) return;
  const mismatch = rangeAnswerMismatch(range, status, contentRange, length, contentRangeOptional);
  if (mismatch) throw new BackendError(`${what}: the service ${mismatch}`);
}

/**
 * Bytes `start` up to `end` of `source` (a whole value sent where a range was asked for). The rest
 * is read and dropped, so a keep-alive connection stays usable.
 */
export async function* bytesBetween(source: ByteSource, start: number, end: number): ByteSource {
  let at = 0;
  for await (const chunk of source) {
    const from = Math.max(start - at, 0);
    const to = Math.min(end - at, chunk.byteLength);
    at += chunk.byteLength;
    if (to > from) yield from === 0 && to === chunk.byteLength ? chunk : chunk.subarray(from, to);
  }
}
