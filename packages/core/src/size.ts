import { InvalidArgument } from "./errors.js";

const UNIT_POWERS: Readonly<Record<string, number>> = { "": 0, k: 1, m: 2, g: 3, t: 4, p: 5 };

/**
 * A byte count as people type it on command lines: `1048576`, `64k`, `4M`, `10G`, `1.5TiB`, `2gb`.
 * Units are powers of 1024 whatever their spelling (as borg's and rclone's size options), case does
 * not matter; anything else — negative, empty, a fraction of a byte, beyond 2^53 — is refused
 * with InvalidArgument rather than read as something else.
 */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(?:i?b)?|b)?$/i.exec(text.trim());
  if (!m) throw new InvalidArgument(`not a size: "${text}" (use bytes, or a number with k, M, G, T or P)`);
  const power = UNIT_POWERS[(m[2] ?? "").toLowerCase()] ?? 0;
  const bytes = Number(m[1]) * 1024 ** power;
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgument(`not a size: "${text}" (not a whole number of bytes below 2^53)`);
  return bytes;
}
