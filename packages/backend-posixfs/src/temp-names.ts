import { randomFillSync } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_";
const pool = new Uint8Array(4096);
let at = pool.length;

/** `length` random characters from [a-z0-9_], from a pool refilled in bulk (names are made on every store). */
export function randomSuffix(length: number): string {
  if (at + length > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  let text = "";
  for (let i = 0; i < length; i++) text += ALPHABET[(pool[at++] as number) % ALPHABET.length];
  return text;
}

/** A temp file name as CPython's tempfile makes them (docs/on-disk-format.md#posixfs-layout): "tmp" + 8 characters from [a-z0-9_] + ".tmp". */
export function tempName(): string {
  return `tmp${randomSuffix(8)}.tmp`;
}

/** Temp names of both implementations' in-place writes (the Python reference and our small stores). */
export const TEMP_NAME = /^tmp[a-z0-9_]{8}\.tmp$/;
