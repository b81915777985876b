import { randomFillSync } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_";
const pool = new Uint8Array(4096);
let at = pool.length;

/**
 * A temp file name as CPython's tempfile makes them (spec §11): "tmp" + 8 characters from
 * [a-z0-9_] + ".tmp". The random bytes come from a pool refilled in bulk, as names are made
 * on every store.
 */
export function tempName(): string {
  if (at + 8 > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  let name = "tmp";
  for (let i = 0; i < 8; i++) name += ALPHABET[(pool[at++] as number) % ALPHABET.length];
  return `${name}.tmp`;
}
