import type { ReadStream } from "node:fs";
import { once } from "node:events";

const DONE: IteratorResult<never> = Object.freeze({ done: true, value: undefined });

/**
 * The chunks of a file's read stream, as plain Uint8Array views (no copy). return() closes the
 * file whether or not a chunk was asked for: an async generator (the stream's own iterator, too)
 * that never started does not run its cleanup, so a source given up before its first chunk kept
 * its descriptor open until garbage collection.
 */
export class FileChunks implements AsyncIterableIterator<Uint8Array> {
  readonly #stream: ReadStream;
  #chunks: AsyncIterator<Uint8Array> | undefined;

  constructor(stream: ReadStream) {
    this.#stream = stream;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    this.#chunks ??= this.#stream[Symbol.asyncIterator]();
    const step = await this.#chunks.next();
    if (step.done) return DONE;
    const chunk = step.value;
    return { done: false, value: new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength) };
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    // A started iteration's own return() destroys the stream after its pending step, if any.
    if (this.#chunks) {
      await this.#chunks.return?.();
      return DONE;
    }
    if (!this.#stream.closed) {
      const closed = once(this.#stream, "close").catch(() => undefined);
      this.#stream.destroy();
      await closed;
    }
    return DONE;
  }
}
