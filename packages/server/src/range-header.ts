import type { LoadOptions } from "@borgstore/core";

const BYTES_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * The reference's Range parsing (spec §5.2): `bytes=-K` → last K bytes, `bytes=A-` → from A,
 * `bytes=A-B` → B-A+1 bytes from A; anything else (multi-range, `bytes=0--1`, junk) → whole value.
 */
export function parseRange(header: string | undefined): LoadOptions {
  if (header === undefined) return {};
  const m = BYTES_RANGE.exec(header.trim());
  if (!m) return {};
  const [, first = "", last = ""] = m;
  const a = first === "" ? undefined : Number(first);
  const b = last === "" ? undefined : Number(last);
  if ((a !== undefined && !Number.isSafeInteger(a)) || (b !== undefined && !Number.isSafeInteger(b))) return {};
  if (a === undefined) return b === undefined || b === 0 ? {} : { offset: -b };
  if (b === undefined || b < a - 1) return { offset: a };
  return { offset: a, size: b - a + 1 };
}
