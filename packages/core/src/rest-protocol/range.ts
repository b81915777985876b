import { InvalidArgument } from "../errors.js";
import type { LoadOptions } from "../types.js";

/*
 * Range and Content-Range as the protocol uses them (docs/rest-protocol.md#ranges): a client asks
 * for one slice of a value with `Range: bytes=…`; our server answers 206 with
 * `Content-Range: bytes a-b/total` when the backend knows the whole value's length.
 */

/** What Python's int() takes from a decimal string: blanks around it, a sign, digits with single underscores. */
const PYTHON_INT = /^\s*[+-]?\d+(?:_\d+)*\s*$/;

function pythonInt(text: string): number | undefined {
  if (!PYTHON_INT.test(text)) return undefined;
  const value = Number(text.replace(/[\s_]/g, ""));
  // The reference takes any size of integer and then fails in seek/read; a JS number cannot hold it.
  if (!Number.isSafeInteger(value)) throw new InvalidArgument(`Range value out of range: ${text.trim()}`);
  return value;
}

/**
 * The reference server's Range parsing, step for step: only `bytes=`; the text up to the next
 * "=" is the range; `-K` → last K bytes; `A-` → from A; `A-B` → B-A+1 bytes from A (B < A-1 gives
 * a negative size, which the load refuses with 400 as the reference does); numbers as Python's
 * int() reads them; anything else (multi-range, `bytes=0--1`, junk) → the whole value.
 */
export function parseRange(header: string | undefined): LoadOptions {
  if (header === undefined || !header.startsWith("bytes=")) return {};
  const range = header.split("=")[1] as string;
  if (range.startsWith("-")) {
    const suffix = pythonInt(range);
    return suffix === undefined || suffix === 0 ? {} : { offset: suffix };
  }
  const parts = range.split("-");
  if (parts.length !== 2) return {};
  const [first, last] = parts as [string, string];
  const offset = pythonInt(first);
  if (offset === undefined) return {};
  if (last === "") return { offset };
  const end = pythonInt(last);
  return end === undefined ? {} : { offset, size: end - offset + 1 };
}

/**
 * The Content-Range of a 206 holding `size` bytes from `start` of a value `total` bytes long
 * (a star instead of `a-b` for no bytes).
 */
export function formatContentRange(start: number, size: number, total: number): string {
  return size === 0 ? `bytes */${total}` : `bytes ${start}-${start + size - 1}/${total}`;
}

// Formatting a Range and reading a Content-Range are plain HTTP, shared with the S3 and rclone
// backends: one home, the backend kit.
export { contentRangeTotal, formatRange } from "../backend-kit/range-request.js";
