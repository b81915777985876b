import { BackendError, type ByteSource, type ItemInfo, digest, isValidName } from "@borgstore/core";
import { HEADERS, decodeList } from "@borgstore/core/rest-protocol";

/*
 * What the client takes from a server's 2xx replies, checked: a peer that is no borgstore server
 * (a proxy's maintenance page, a broken server) gives a BackendError, never a value made up from
 * its answer. What the reference server sends (docs/rest-protocol.md §4.2–4.4) is always accepted.
 */

/** The most of an error reply's body read for its message; the rest is dropped. */
export const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * The text of an error reply's body, at most ERROR_BODY_LIMIT bytes of it: a peer cannot flood
 * memory or the error message. Stopping early ends the body: over HTTP that closes its connection,
 * over stdio the transport skips the rest.
 */
export async function errorBodyText(body: ByteSource): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const iterator = body[Symbol.asyncIterator]();
  try {
    while (size < ERROR_BODY_LIMIT) {
      const next = await iterator.next();
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.byteLength;
    }
  } finally {
    await iterator.return?.();
  }
  return Buffer.concat(chunks).subarray(0, ERROR_BODY_LIMIT).toString("utf8");
}

/** The most of a server's error message kept in an error (a page of text is no message). */
const MESSAGE_LIMIT = 2000;

/** `message` cut to MESSAGE_LIMIT characters. */
export function shortened(message: string): string {
  if (message.length <= MESSAGE_LIMIT) return message;
  return `${message.slice(0, MESSAGE_LIMIT)}… (${message.length - MESSAGE_LIMIT} more characters)`;
}

const isSize = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * The items of a listing's reply body (docs/rest-protocol.md §4.3; the wire format checked by the
 * protocol module's decodeList), sorted by name as the reference's backends list them (an unsorted
 * answer is sorted here). Entries with names a store cannot hold are dropped (the reference's
 * posixfs never lists them); a name listed twice is a BackendError.
 */
export function decodeListing(json: string, what: string): ItemInfo[] {
  const items = decodeList(json, what).filter((item) => isValidName(item.name));
  if (!items.every((item, i) => i === 0 || (items[i - 1] as ItemInfo).name < item.name)) {
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const twice = items.find((item, i) => i > 0 && (items[i - 1] as ItemInfo).name === item.name);
    if (twice) throw new BackendError(`${what}: the server listed ${twice.name} twice`);
  }
  return items;
}

const IS_DIRECTORY = HEADERS.isDirectory.toLowerCase();
const ATIME = HEADERS.atime.toLowerCase();

/** An existing item's info from its HEAD reply: size from Content-Length (required), atime a finite number (0 when absent). */
export function infoOfHead(name: string, headers: Record<string, string | undefined>, what: string): ItemInfo {
  const length = headers["content-length"];
  const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : Number.NaN;
  if (!isSize(size)) throw new BackendError(`${what}: the server's answer has no valid Content-Length`);
  const rawAtime = headers[ATIME];
  const atime = rawAtime === undefined || rawAtime === "" ? 0 : Number(rawAtime);
  if (!Number.isFinite(atime)) throw new BackendError(`${what}: the server's answer has no valid ${HEADERS.atime}`);
  return { name, exists: true, size, directory: headers[IS_DIRECTORY] === "true", atime };
}

/** Hex digest lengths, learnt from the digest of nothing. */
const digestLengths = new Map<string, number>();

/** The hex digest of a `?cmd=hash` reply body: lower-case hex of the algorithm's digest length, or a BackendError. */
export async function digestOfReply(text: string, algorithm: string, what: string): Promise<string> {
  let length = digestLengths.get(algorithm);
  if (length === undefined) {
    length = (await digest(algorithm, new Uint8Array(0))).length;
    digestLengths.set(algorithm, length);
  }
  const hex = text.trim();
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex))
    throw new BackendError(`${what}: the server's answer is no ${algorithm} hex digest: ${JSON.stringify(hex.slice(0, 80))}`);
  return hex;
}
