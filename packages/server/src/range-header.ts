import { InvalidArgument, type LoadOptions } from "@borgstore/core";

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
 * The reference's Range parsing (spec §5.2), step for step: only `bytes=`; the text up to the next
 * "=" is the range; `-K` → last K bytes; `A-` → from A; `A-B` → B-A+1 bytes from A (B < A-1 gives
 * a negative size, refused with 400 as the reference does); numbers as Python's int() reads them;
 * anything else (multi-range, `bytes=0--1`, junk) → whole value.
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
