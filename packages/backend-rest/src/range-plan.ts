import type { ByteSource, LoadOptions } from "@borgstore/core";

/** How to fetch a part of a value: the Range header, or nothing at all, and what to keep of the reply. */
export interface RangePlan {
  /** Nothing to fetch: the answer is empty bytes. */
  empty?: boolean;
  range?: string;
  /** Keep only this many leading bytes of the reply (a whole tail was fetched). */
  keep?: number;
}

/**
 * A tail up to this much longer than wanted is fetched whole (one suffix request, then cut); only a
 * longer one asks for the total size first. That two-step read is not atomic: the name may be
 * overwritten with a value of another size between the size and the bytes, and the protocol has
 * no ETag or Content-Range to notice it, so the slice could come from the wrong place of the newer
 * value. 1 MiB of extra transfer keeps reads near the end atomic for the cost of a round trip.
 */
const TAIL_SLACK = 1024 * 1024;

/**
 * The Range header of spec §5.1. Fixes the reference's size-0 quirk (`bytes=0--1` returned the
 * whole value): size 0 needs no request. `total` is asked only for a short slice far from the end.
 */
export async function planRange(options: LoadOptions, total: () => Promise<number>): Promise<RangePlan> {
  const offset = options.offset ?? 0;
  const size = options.size ?? undefined;
  if (size === 0) return { empty: true };
  if (offset >= 0) {
    if (size === undefined) return offset === 0 ? {} : { range: `bytes=${offset}-` };
    return { range: `bytes=${offset}-${offset + size - 1}` };
  }
  const tail = -offset;
  if (size === undefined) return { range: `bytes=-${tail}` };
  if (tail - size <= TAIL_SLACK) return { range: `bytes=-${tail}`, keep: size };
  const start = Math.max(0, (await total()) + offset);
  return { range: `bytes=${start}-${start + size - 1}` };
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
