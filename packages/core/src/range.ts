import { InvalidArgument } from "./errors.js";
import type { BufferLoadOptions, LoadOptions } from "./types.js";

/** A resolved, clamped byte range: [start, end) within a value of known length. */
export interface ByteRange {
  /** Index of the first byte. */
  start: number;
  /** Index one past the last byte. */
  end: number;
}

/** Checks that offset and size are integers (size ≥ 0), and `into` a Uint8Array, before any backend sees them. */
export function validateLoadOptions(options: BufferLoadOptions): void {
  const { offset = 0, size, into } = options;
  if (into !== undefined && !(into instanceof Uint8Array))
    throw new InvalidArgument(`into must be a Uint8Array, but got: ${Object.prototype.toString.call(into)}`);
  if (!Number.isSafeInteger(offset)) throw new InvalidArgument(`offset must be an integer, but got: ${offset}`);
  if (size !== undefined && size !== null && !(Number.isSafeInteger(size) && size >= 0))
    throw new InvalidArgument(`size must be a non-negative integer, but got: ${size}`);
}

/**
 * Resolves {offset, size} against a value of `total` bytes. A negative offset counts from the end;
 * one reaching before the start is clamped to 0 (the reference fails there with a seek error).
 * An offset past the end yields an empty range; a size past the end a short one.
 */
export function resolveRange(options: LoadOptions, total: number): ByteRange {
  const { offset = 0, size } = options;
  const start = offset < 0 ? Math.max(0, total + offset) : Math.min(offset, total);
  const end = size === undefined || size === null ? total : Math.min(total, start + size);
  return { start, end };
}

/** True when the options ask for the whole value. */
export function isWholeValue(options: LoadOptions): boolean {
  return (options.offset ?? 0) === 0 && (options.size === undefined || options.size === null);
}
