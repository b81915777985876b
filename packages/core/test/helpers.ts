import { type Backend, type ByteSource, MemoryBackend } from "../src/index.js";

/** 4-byte big-endian hex, as the reference's tests name keys: key(1) === "00000001". */
export function key(n: number): string {
  return n.toString(16).padStart(8, "0");
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export async function names(items: AsyncIterable<{ name: string }>): Promise<string[]> {
  return (await collect(items)).map((i) => i.name);
}

/** `backend` created and opened; a fresh MemoryBackend when none is given. */
export async function opened<B extends Backend = MemoryBackend>(backend: B = new MemoryBackend() as Backend as B): Promise<B> {
  await backend.create();
  await backend.open();
  return backend;
}

/** How `promise` failed: its error's code and message, or "did not fail". */
export async function failure(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return promise.then(
    () => ({ message: "did not fail" }),
    (err: { code?: string; message: string }) => ({ code: err.code, message: err.message }),
  );
}

/** A source of `parts` as UTF-8 chunks, one chunk a part. */
export async function* chunksOf(...parts: string[]): ByteSource {
  for (const part of parts) yield bytes(part);
}
