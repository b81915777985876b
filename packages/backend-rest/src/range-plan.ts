import type { ByteSource, LoadOptions } from "@borgstore/core";
import { formatRange } from "@borgstore/core/rest-protocol";

/** How to fetch a part of a value: the Range header, or nothing at all, and what to keep of the reply. */
export interface RangePlan {
  /** Nothing to fetch: the answer is empty bytes. */
  empty?: boolean;
  range?: string;
  /** Keep only this many leading bytes of the reply (a whole tail was fetched). */
  keep?: number;
  /**
   * The value length the range's start was computed from (a HEAD before it): the reply's
   * Content-Range total must equal it, or the name was overwritten in between and the bytes
   * come from the wrong place of another value.
   */
  expectTotal?: number;
}

/**
 * A tail up to this much longer than wanted is always fetched whole (one suffix request, then
 * cut): 1 MiB of extra transfer costs less than the round trip of asking the size first.
 */
const TAIL_SLACK = 1024 * 1024;

/**
 * The Range header of a load (docs/rest-protocol.md#ranges). Fixes the reference's size-0 quirk (`bytes=0--1` returned the
 * whole value): size 0 needs no request. A short slice far from the end is fetched as an exact
 * range only when `total` is given, i.e. the server's 206 replies carry a Content-Range total to
 * check the size against (the plan's `expectTotal`); otherwise its whole tail is fetched and cut.
 */
export async function planRange(options: LoadOptions, total?: () => Promise<number>): Promise<RangePlan> {
  const offset = options.offset ?? 0;
  const size = options.size ?? undefined;
  if (size === 0) return { empty: true };
  if (offset >= 0) {
    if (size === undefined) return offset === 0 ? {} : { range: formatRange(offset) };
    return { range: formatRange(offset, size) };
  }
  const tail = -offset;
  if (size === undefined) return { range: formatRange(offset) };
  if (tail - size <= TAIL_SLACK || total === undefined) return { range: formatRange(offset), keep: size };
  const expectTotal = await total();
  const start = Math.max(0, expectTotal + offset);
  return { range: formatRange(start, size), expectTotal };
}

/** The first `keep` bytes of `source`; the rest is read and dropped so the connection stays usable. */
export async function* truncated(source: ByteSource, keep: number): ByteSource {
  let left = keep;
  for await (const chunk of source) {
    if (left <= 0) continue;
    const piece = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
    left -= piece.byteLength;
    yield piece;
  }
}
