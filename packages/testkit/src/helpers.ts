import { createHash, randomFillSync } from "node:crypto";
import { type Backend, type ByteSource, type ItemInfo, type OperationOptions, collectBytes } from "@borgstore/core";

/** The reference's key helper: `n` as 4 big-endian bytes in hex, `key(1) === "00000001"`. */
export function key(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/** `n` bytes of random data (not for cryptography: values that catch truncation and mix-ups). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  // randomFillSync refuses more than 2**31-1 bytes at once; fill in slices to stay general.
  const slice = 1 << 30;
  for (let at = 0; at < n; at += slice) randomFillSync(out, at, Math.min(slice, n - at));
  return out;
}

/** `n` bytes all equal to `byte`: a value whose every byte says which writer wrote it. */
export function filledBytes(n: number, byte: number): Uint8Array {
  return new Uint8Array(n).fill(byte);
}

/** The SHA-256 of `data` as lower-case hex (what `hash(name, "sha256")` answers). */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** UTF-8 bytes of `text`. */
export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** `bytes` as UTF-8 text (for readable assertions on small values). */
export function textOf(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Every item `backend.list(name)` yields, in the order it yields them. */
export async function listItems(backend: Backend, name: string, options?: OperationOptions): Promise<ItemInfo[]> {
  const items: ItemInfo[] = [];
  for await (const item of backend.list(name, options)) items.push(item);
  return items;
}

/** The names `backend.list(name)` yields, in the order it yields them (the suite checks they are sorted). */
export async function listNames(backend: Backend, name: string, options?: OperationOptions): Promise<string[]> {
  return (await listItems(backend, name, options)).map((item) => item.name);
}

/** Reads a whole byte source into one buffer (core's collectBytes, under the kit's name). */
export const collect: (source: ByteSource) => Promise<Uint8Array> = collectBytes;

/**
 * `data` as a source of `chunkSize`-byte chunks that yields to the event loop between chunks, so
 * several streams in flight really interleave.
 */
export async function* chunkedSource(data: Uint8Array, chunkSize = 64 * 1024): ByteSource {
  for (let at = 0; at < data.byteLength; at += chunkSize) {
    await new Promise((resolve) => setImmediate(resolve));
    yield data.subarray(at, Math.min(at + chunkSize, data.byteLength));
  }
}

/** A source that delivers `data` in chunks and then throws `error` instead of ending. */
export async function* failingSource(data: Uint8Array, error: Error, chunkSize = 64 * 1024): ByteSource {
  yield* chunkedSource(data, chunkSize);
  throw error;
}
