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
