/**
 * Bytes the server may hold in whole request or response bodies at once. Reading a value whole
 * is up to twice as fast as streaming it (one file read, one socket write), but a slow client
 * would pin that memory: within the budget a value is held whole, beyond it it streams.
 */
export class MemoryBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  /** Reserves `bytes` if they fit; the caller releases them when done. */
  tryReserve(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#used -= bytes;
  }
}

/**
 * Idle buffers for values received whole, kept for the next upload of a similar size. A fresh
 * multi-MiB buffer per upload costs page faults and, being memory outside V8's heap, a full
 * garbage collection every few dozen MiB; a reused one costs neither. Buffers come in power-of-two
 * capacities from `minimum` up; at most `limit` bytes are kept idle (the rest is left to the GC).
 */
export class BufferPool {
  readonly limit: number;
  readonly minimum: number;
  #idle = new Map<number, Uint8Array[]>();
  #idleBytes = 0;

  constructor(limit: number, minimum = 128 * 1024) {
    this.limit = limit;
    this.minimum = minimum;
  }

  get idleBytes(): number {
    return this.#idleBytes;
  }

  /** A buffer of at least `size` bytes (its contents are old data: overwrite before use). */
  take(size: number): Uint8Array {
    const capacity = this.#capacityFor(size);
    const buffer = this.#idle.get(capacity)?.pop();
    if (buffer !== undefined) {
      this.#idleBytes -= capacity;
      return buffer;
    }
    return Buffer.allocUnsafeSlow(capacity);
  }

  /** Hands back a buffer from take() once nothing refers to it any more. */
  give(buffer: Uint8Array): void {
    const capacity = buffer.byteLength;
    if (this.#idleBytes + capacity > this.limit || capacity !== this.#capacityFor(capacity)) return;
    let list = this.#idle.get(capacity);
    if (list === undefined) {
      list = [];
      this.#idle.set(capacity, list);
    }
    list.push(buffer);
    this.#idleBytes += capacity;
  }

  #capacityFor(size: number): number {
    let capacity = this.minimum;
    while (capacity < size) capacity *= 2;
    return capacity;
  }
}
