import { type Hash, createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { BackendError, ContentHashMismatch, ContentLengthMismatch, InvalidArgument } from "./errors.js";
import type { ByteSource, SizedByteSource, StoreStreamOptions } from "./types.js";

/** Reads a whole source into one buffer (for backends without native streaming). */
export async function collectBytes(source: ByteSource): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of source) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  return joinChunks(chunks, total);
}

/** `chunks` (`total` bytes together) as one buffer: the only chunk itself, or a copy of them all. */
export function joinChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** A source of one buffer. */
export async function* bytesSource(data: Uint8Array): ByteSource {
  if (data.byteLength > 0) yield data;
}

/** One buffer as a SizedByteSource (what a backend without native streaming hands out). */
export function sizedBytes(data: Uint8Array, total?: number): SizedByteSource {
  return sizedSource(bytesSource(data), data.byteLength, total);
}

/**
 * `source` announced as delivering exactly `size` bytes, taken by a backend from the handle or
 * response the bytes come from. Iteration throws BackendError when the bytes end early or run
 * over, so a consumer that framed them with `size` (a Content-Length) never completes with
 * anything but exactly those bytes. return() before or during iteration closes `source`.
 * `total`: the whole value's length, from the same handle or response (see SizedByteSource).
 */
export function sizedSource(source: ByteSource, size: number, total?: number): SizedByteSource {
  if (!(Number.isSafeInteger(size) && size >= 0)) throw new InvalidArgument(`size must be a non-negative integer, but got: ${size}`);
  if (total !== undefined && !(Number.isSafeInteger(total) && total >= size))
    throw new InvalidArgument(`total must be an integer of at least size ${size}, but got: ${total}`);
  return new ExactSource(source, size, total);
}

/** An unsized `source` with `onChunk` called for each chunk as it passes: how a layer counts the bytes of a storeStream. */
export async function* tappedSource(source: ByteSource, onChunk: (chunk: Uint8Array) => void): ByteSource {
  for await (const chunk of source) {
    onChunk(chunk);
    yield chunk;
  }
}

/** `source` with `onChunk` called for each chunk as it passes (closing it still closes `source`). */
export function observedSource(source: SizedByteSource, onChunk: (chunk: Uint8Array) => void): SizedByteSource {
  return new ExactSource(source, source.size, source.total, onChunk);
}

class ExactSource implements SizedByteSource, AsyncIterator<Uint8Array> {
  readonly size: number;
  readonly total: number | undefined;
  readonly #inner: AsyncIterator<Uint8Array>;
  readonly #onChunk: ((chunk: Uint8Array) => void) | undefined;
  #delivered = 0;

  constructor(source: ByteSource, size: number, total: number | undefined, onChunk?: (chunk: Uint8Array) => void) {
    this.size = size;
    this.total = total;
    this.#inner = source[Symbol.asyncIterator]();
    this.#onChunk = onChunk;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    const step = await this.#inner.next();
    if (step.done) {
      if (this.#delivered !== this.size)
        throw new BackendError(`the stream ended after ${this.#delivered} of its ${this.size} bytes`);
      return step;
    }
    this.#delivered += step.value.byteLength;
    if (this.#delivered > this.size) {
      await this.#inner.return?.();
      throw new BackendError(`the stream delivered more than its ${this.size} bytes`);
    }
    this.#onChunk?.(step.value);
    return step;
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    await this.#inner.return?.();
    return { done: true, value: undefined };
  }
}

/**
 * The announced size and SHA-256 of a value arriving in chunks, checked as the chunks pass: the one
 * place the messages of ContentLengthMismatch and ContentHashMismatch are written, for
 * `verifiedSource` and `receiveWhole` alike.
 */
class ContentCheck {
  readonly #size: number | undefined;
  readonly #sha256: string | undefined;
  readonly #hash: Hash | undefined;
  #received = 0;

  constructor({ size, sha256 }: StoreStreamOptions) {
    this.#size = size;
    this.#sha256 = sha256;
    this.#hash = sha256 === undefined ? undefined : createHash("sha256");
  }

  /** Bytes taken so far. */
  get received(): number {
    return this.#received;
  }

  /** Counts and hashes `chunk`; ContentLengthMismatch as soon as more than the announced size arrived (the chunk is not taken). */
  add(chunk: Uint8Array): void {
    if (this.#size !== undefined && this.#received + chunk.byteLength > this.#size)
      throw new ContentLengthMismatch(`received more than the announced ${this.#size} bytes`);
    this.#received += chunk.byteLength;
    this.#hash?.update(chunk);
  }

  /** The error for a value that stopped at what was received so far. */
  short(): ContentLengthMismatch {
    return new ContentLengthMismatch(`received ${this.#received} of the announced ${this.#size} bytes`);
  }

  /** At the end of the value: ContentLengthMismatch when it is short, ContentHashMismatch when its bytes differ. */
  finish(): void {
    if (this.#size !== undefined && this.#received !== this.#size) throw this.short();
    if (this.#hash !== undefined && this.#hash.digest("hex") !== this.#sha256) throw new ContentHashMismatch();
  }
}

/**
 * Passes bytes through and, after the last chunk but before the consumer sees the end, checks the
 * announced size and SHA-256. A backend that makes an object visible only after fully consuming its
 * source therefore never publishes bytes that fail the check.
 */
export async function* verifiedSource(source: ByteSource, options: StoreStreamOptions): ByteSource {
  const check = new ContentCheck(options);
  for await (const chunk of source) {
    check.add(chunk);
    yield chunk;
  }
  check.finish();
}

/**
 * Reads a Node stream (an HTTP request body) of the announced `size` into one buffer and checks
 * its SHA-256 when one was announced, with `verifiedSource`'s checks and errors. Each chunk is
 * copied into place and hashed as it arrives, so the hashing overlaps the upload, no chunk list is
 * kept alive, and the buffer is not zero-filled first (every byte of it is written before use: a
 * short body is an error). A body that arrives in one chunk is used as is, unless `into` (at least
 * `size` bytes, e.g. from a buffer pool) is given to receive it. A stream that closes without
 * ending (a client that went away) is short. Chunks are taken from 'data' events rather than an
 * async iterator: a promise round trip per 64 KiB chunk cost about a sixth of the server's CPU for
 * a 4 MiB upload.
 */
export function receiveWhole(body: Readable, size: number, sha256: string | undefined, into?: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const check = new ContentCheck({ size, sha256 });
    let value: Uint8Array | undefined = into?.subarray(0, size);
    const stop = () => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
    };
    const onData = (chunk: Uint8Array) => {
      const at = check.received;
      try {
        check.add(chunk);
      } catch (err) {
        stop();
        body.destroy();
        reject(err);
        return;
      }
      if (at === 0 && chunk.byteLength === size && value === undefined) value = chunk;
      else {
        value ??= Buffer.allocUnsafeSlow(size);
        value.set(chunk, at);
      }
    };
    const onEnd = () => {
      stop();
      try {
        check.finish();
        resolve(value ?? new Uint8Array(0));
      } catch (err) {
        reject(err);
      }
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    const onClose = () => {
      stop();
      reject(check.short());
    };
    if (body.readableEnded) return onEnd();
    if (body.destroyed) return onClose();
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
    body.once("close", onClose);
  });
}

/** Normalises whatever a caller passes as a value into a Uint8Array view (no copy). */
export function asBytes(value: Uint8Array | ArrayBufferView | ArrayBuffer): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || (value as unknown) instanceof SharedArrayBuffer) return new Uint8Array(value);
  // new Uint8Array("text") would silently be empty: refuse what is not bytes, as the reference does.
  throw new InvalidArgument(`value must be bytes (a typed array, DataView or ArrayBuffer), but got: ${typeof value}`);
}
