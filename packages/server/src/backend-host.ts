import type { Backend } from "@borgstore/core";

/**
 * Owns the one backend a server serves. The backend is opened once, on the first request that
 * needs it, and stays open: requests share it concurrently (the reference opens and closes a
 * shared backend per request and collides under concurrency, spec §6.3). create and destroy need
 * it closed, so they run alone: they wait for running operations, close the backend, and the next
 * operation opens it again.
 */
export class BackendHost {
  readonly backend: Backend;
  #active = 0;
  #exclusive = false;
  #waiters: Array<() => void> = [];
  #opening: Promise<void> | undefined;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  /** Runs `operation` with the backend open, alongside other operations. */
  async use<T>(operation: (backend: Backend) => Promise<T>): Promise<T> {
    while (this.#exclusive || this.#waitingExclusive > 0) await this.#wait();
    this.#active++;
    try {
      await this.#ensureOpen();
      return await operation(this.backend);
    } finally {
      this.#active--;
      this.#wake();
    }
  }

  /** Runs `operation` alone, with the backend closed (create, destroy, shutdown). */
  async alone<T>(operation: (backend: Backend) => Promise<T>): Promise<T> {
    this.#waitingExclusive++;
    try {
      while (this.#exclusive || this.#active > 0) await this.#wait();
    } finally {
      this.#waitingExclusive--;
    }
    this.#exclusive = true;
    try {
      if (this.backend.opened) await this.backend.close();
      return await operation(this.backend);
    } finally {
      this.#exclusive = false;
      this.#wake();
    }
  }

  /** Closes the backend once running operations are done (persists posixfs quota). */
  async close(): Promise<void> {
    await this.alone(async () => undefined);
  }

  #waitingExclusive = 0;

  async #ensureOpen(): Promise<void> {
    if (this.backend.opened) return;
    // One open for all the requests that find the backend closed at the same time.
    this.#opening ??= this.backend.open().finally(() => {
      this.#opening = undefined;
    });
    await this.#opening;
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
