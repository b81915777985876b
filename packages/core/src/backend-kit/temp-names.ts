import { randomFillSync } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_";
const pool = new Uint8Array(4096);
let at = pool.length;

/** `length` random characters from [a-z0-9_], from a pool refilled in bulk (a name is made on every store). */
export function randomSuffix(length: number): string {
  if (at + length > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  let text = "";
  for (let i = 0; i < length; i++) text += ALPHABET[(pool[at++] as number) % ALPHABET.length];
  return text;
}

/**
 * A name for a value while it is written, before it is renamed over its final name: "tmp" +
 * `length` characters from [a-z0-9_] + ".tmp". Ending in ".tmp", it is never a valid item name, so
 * list never shows it. The default 8 characters are CPython's tempfile names, which the reference's
 * posixfs makes (docs/on-disk-format.md), and `borgstore check` recognises a left-over one by
 * {@link TEMP_NAME}: enough where the temp file is created exclusively (O_EXCL, SFTP "wx"), so that a
 * clash fails and another name is drawn. A backend that cannot create exclusively (an upload that
 * overwrites whatever has the name) asks for 16: two writers must then never draw the same name.
 */
export function tempName(length = 8): string {
  return `tmp${randomSuffix(length)}.tmp`;
}

/** Matches the names `tempName()` makes with its default length (and the Python reference's posixfs temp files). */
export const TEMP_NAME: RegExp = /^tmp[a-z0-9_]{8}\.tmp$/;
