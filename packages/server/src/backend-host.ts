import type { Backend } from "@borgstore/core";
import { KeyedQueue, throwIfAborted } from "@borgstore/core/backend";
import { HttpError } from "./http-error.js";

/** Options of `new BackendHost(...)`. */
export interface BackendHostOptions {
  /**
   * Longest a request waits for the host: an operation for a running create/destroy, and
   * create/destroy for the operations running. Then 503 with Retry-After.
   * Default 2000 ms.
   */
  waitLimitMs?: number;
}

/** Seconds a client refused with 503 is told to wait (Retry-After). */
const RETRY_AFTER_SECONDS = 1;

/**
 * Owns the one backend a server serves. The backend is opened once, on the first request that
 * needs it, and stays open: requests share it concurrently (the reference opens and closes a
 * shared backend per request and collides under concurrency, docs/rest-protocol.md#feature-negotiation). create and destroy need
 * it closed, so they run alone: they wait for running operations, close the backend, and the next
 * operation opens it again.
 *
 * No request waits for the host longer than `waitLimitMs`: one slow download must not let a
 * create freeze every client, nor a long destroy; whoever would wait longer gets 503. A create or
 * destroy that waits for running operations holds no new ones back: a client that spams creates
 * while a slow download runs would otherwise make every other client wait, then 503. Under steady
 * load a create may thus not get its turn: it gets 503 and retries.
 */
export class BackendHost {
  /** The backend every request runs against. */
  readonly backend: Backend;
  /** Longest wait in ms for a turn before a request gets 503 (default 2000). */
  readonly waitLimitMs: number;
  #active = 0;
  #exclusive = false;
  #waiters = new Set<() => void>();
  #opening: Promise<void> | undefined;
  readonly #changes = new KeyedQueue();

  constructor(backend: Backend, options: BackendHostOptions = {}) {
    this.backend = backend;
    this.waitLimitMs = options.waitLimitMs ?? 2000;
  }

  /**
   * Runs `operation` with the backend open, alongside other operations. A fired `signal` ends the
   * wait for a running create/destroy (ABORTED).
   */
  async use<T>(operation: (backend: Backend) => Promise<T>, signal?: AbortSignal): Promise<T> {
    // Nothing running alone (every request but those around a create or destroy): taken at once,
    // without #claim's wait machinery.
    let admitted = true;
    if (this.#exclusive) admitted = await this.#claim(() => !this.#exclusive, () => this.#active++, this.waitLimitMs, signal);
    else this.#active++;
    throwIfAborted(signal);
    if (!admitted) throw busy("the store is being created or destroyed");
    try {
      if (!this.backend.opened) await this.#ensureOpen();
      return await operation(this.backend);
    } finally {
      this.#active--;
      this.#wake();
    }
  }

  /**
   * Runs `operation`, a change of `names` (a store, a delete, a move), as use() does, once the
   * changes of those names that arrived before it have ended. A request whose client gave up on
   * its answer and sent it again still runs to its end here: were the retry, or the client's next
   * change of that name, to overtake it, the first attempt would land last, over a newer value or
   * deleting a new one.
   */
  changing<T>(names: readonly string[], operation: (backend: Backend) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.use(
      (backend) => (names.length === 1 ? this.#changes.run(names[0] as string, () => operation(backend)) : this.#changes.runAll(names, () => operation(backend))),
      signal,
    );
  }

  /**
   * Runs `operation` alone, with the backend closed (create, destroy, shutdown). Waits at most
   * `waitLimitMs` (default: the host's limit) for running operations to finish.
   */
  async alone<T>(
    operation: (backend: Backend) => Promise<T>,
    waitLimitMs = this.waitLimitMs,
    signal?: AbortSignal,
  ): Promise<T> {
    const alone = await this.#claim(
      () => !this.#exclusive && this.#active === 0,
      () => {
        this.#exclusive = true;
      },
      waitLimitMs,
      signal,
    );
    throwIfAborted(signal);
    if (!alone) throw busy("other requests are running");
    try {
      if (this.backend.opened) await this.backend.close();
      return await operation(this.backend);
    } finally {
      this.#exclusive = false;
      this.#wake();
    }
  }

  /** Closes the backend once running operations are done, however long (persists posixfs quota). */
  async close(): Promise<void> {
    await this.alone(async () => undefined, Number.POSITIVE_INFINITY);
  }

  async #ensureOpen(): Promise<void> {
    if (this.backend.opened) return;
    // One open for all the requests that find the backend closed at the same time.
    this.#opening ??= this.backend.open().finally(() => {
      this.#opening = undefined;
    });
    await this.#opening;
  }

  /**
   * Waits until `ready()` holds, then runs `take()` in the same tick (true), or gives up after
   * `limitMs` (false). Checking and taking at once matters: across an await, a create could see
   * no operation running while one that was admitted has not counted itself yet.
   */
  async #claim(ready: () => boolean, take: () => void, limitMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + limitMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return false;
      await this.#wait(left, signal);
    }
    take();
    return true;
  }

  #wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      this.#waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  #wake(): void {
    if (this.#waiters.size === 0) return;
    for (const resolve of [...this.#waiters]) resolve();
  }
}

function busy(why: string): HttpError {
  return new HttpError(503, `Service Unavailable: ${why}, retry later`, { "Retry-After": String(RETRY_AFTER_SECONDS) });
}
