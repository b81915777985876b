import { Aborted } from "./errors.js";
import type { ByteSource } from "./types.js";

/** The typed error for a fired signal, keeping its reason (and what failed meanwhile) as cause. */
export function abortError(signal: AbortSignal, failure?: unknown): Aborted {
  const reason: unknown = signal.reason;
  const told = reason instanceof Error && reason.name !== "AbortError" ? `: ${reason.message}` : "";
  return new Aborted(`the operation was aborted${told}`, { cause: failure ?? reason });
}

/** Throws ABORTED when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Settles like `pending`, or rejects with ABORTED as soon as the signal fires. The work behind
 * `pending` is not stopped by this: use it only where a late result may be dropped (reads).
 */
export function raceAbort<T>(
  pending: Promise<T>,
  signal: AbortSignal | undefined,
  releaseLate?: (late: T) => unknown,
): Promise<T> {
  if (!signal) return pending;
  const dropLate = () =>
    pending.then(
      (late) => releaseLate?.(late),
      () => undefined,
    );
  if (signal.aborted) {
    dropLate();
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      dropLate();
      reject(abortError(signal));
    };
    const waiting = waitingOn(signal);
    waiting.add(onAbort);
    pending.then(
      (value) => {
        waiting.delete(onAbort);
        resolve(value);
      },
      (err: unknown) => {
        waiting.delete(onAbort);
        reject(err);
      },
    );
  });
}

const waitingBySignal = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * The races waiting on `signal`, behind one 'abort' listener per signal: a server passes its
 * connection's signal to every read, and adding and removing an EventTarget listener per race cost
 * more than the rest of a small load's bookkeeping (~3 µs a request in the server's profile).
 */
function waitingOn(signal: AbortSignal): Set<() => void> {
  let waiting = waitingBySignal.get(signal);
  if (!waiting) {
    const callbacks = new Set<() => void>();
    signal.addEventListener(
      "abort",
      () => {
        const fired = [...callbacks];
        callbacks.clear();
        for (const callback of fired) callback();
      },
      { once: true },
    );
    waitingBySignal.set(signal, callbacks);
    waiting = callbacks;
  }
  return waiting;
}

/**
 * Runs `work`; once the signal has fired, whatever it throws becomes ABORTED (the failure is kept
 * as cause): a backend cut off mid-way fails in its own words, the caller asked for one code.
 */
export async function underSignal<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  throwIfAborted(signal);
  try {
    return await work();
  } catch (err) {
    if (signal?.aborted && !(err instanceof Aborted)) throw abortError(signal, err);
    throw err;
  }
}

/**
 * A source that stops with ABORTED when the signal fires: while waiting for the next chunk, between
 * chunks, and after the last one (before the consumer sees the end, so a backend that publishes
 * only after consuming its whole source publishes nothing). The underlying source is closed
 * (`return()`), which releases its file handle or connection.
 */
export function abortableSource(source: ByteSource, signal: AbortSignal | undefined): ByteSource {
  return abortable(source, signal);
}

/** abortableSource for any async iterable (list() uses it for its items). */
export function abortable<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncIterable<T> {
  if (!signal) return source;
  return {
    [Symbol.asyncIterator]: () => new AbortableIterator(source[Symbol.asyncIterator](), signal),
  };
}

const DONE: IteratorResult<never> = Object.freeze({ done: true, value: undefined });

/**
 * The iterator of `abortable`. A step is raced against the signal with callbacks made once per
 * iterator rather than once per step (raceAbort's closures and an async frame per step cost a
 * 10-entry list 8 µs); a caller that asks for a step before the last one settled gets raceAbort.
 */
class AbortableIterator<T> implements AsyncIterator<T> {
  readonly #inner: AsyncIterator<T>;
  readonly #signal: AbortSignal;
  /** waitingOn(signal), looked up once: the set outlives each firing (it is cleared, not replaced). */
  readonly #waiting: Set<() => void>;
  #finished = false;
  #resolve: ((step: IteratorResult<T>) => void) | undefined;
  #reject: ((err: unknown) => void) | undefined;
  readonly #settle = (resolve: (step: IteratorResult<T>) => void, reject: (err: unknown) => void) => {
    this.#resolve = resolve;
    this.#reject = reject;
  };
  readonly #onStep = (step: IteratorResult<T>) => {
    const resolve = this.#resolve;
    const reject = this.#reject;
    if (!this.#release() || !resolve || !reject) return;
    if (!step.done) return resolve(step);
    this.#finished = true;
    // The end is checked a turn later: a signal fired as the source reported it (in the same
    // callback) still stops the consumer before it sees the end.
    queueMicrotask(() => (this.#signal.aborted ? reject(abortError(this.#signal)) : resolve(step)));
  };
  readonly #onFailure = (err: unknown) => {
    const reject = this.#reject;
    if (!this.#release() || !reject) return;
    if (this.#signal.aborted) {
      this.#close();
      return reject(abortError(this.#signal));
    }
    this.#finished = true;
    reject(err);
  };
  readonly #onAbort = () => {
    const reject = this.#reject;
    if (!this.#release() || !reject) return;
    this.#close();
    reject(abortError(this.#signal));
  };

  constructor(inner: AsyncIterator<T>, signal: AbortSignal) {
    this.#inner = inner;
    this.#signal = signal;
    this.#waiting = waitingOn(signal);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#finished) return Promise.resolve(DONE);
    if (this.#signal.aborted) {
      this.#close();
      return Promise.reject(abortError(this.#signal));
    }
    if (this.#reject) return this.#raced();
    let pending: Promise<IteratorResult<T>>;
    try {
      pending = this.#inner.next();
    } catch (err) {
      this.#finished = true;
      return Promise.reject(err);
    }
    const step = new Promise<IteratorResult<T>>(this.#settle);
    this.#waiting.add(this.#onAbort);
    pending.then(this.#onStep, this.#onFailure);
    return step;
  }

  return(): Promise<IteratorResult<T>> {
    this.#close();
    return Promise.resolve(DONE);
  }

  /** Ends the wait of the current step: false when it had already ended. */
  #release(): boolean {
    if (!this.#reject) return false;
    this.#resolve = undefined;
    this.#reject = undefined;
    this.#waiting.delete(this.#onAbort);
    return true;
  }

  /** A step asked for while another is awaited: raced on its own. */
  async #raced(): Promise<IteratorResult<T>> {
    let step: IteratorResult<T>;
    try {
      step = await raceAbort(this.#inner.next(), this.#signal);
    } catch (err) {
      if (this.#signal.aborted) {
        this.#close();
        throw abortError(this.#signal);
      }
      this.#finished = true;
      throw err;
    }
    if (step.done) {
      this.#finished = true;
      throwIfAborted(this.#signal);
    }
    return step;
  }

  /** Closes the underlying source once; not awaited: an async generator queues return() behind a pending next(). */
  #close(): void {
    if (this.#finished) return;
    this.#finished = true;
    Promise.resolve()
      .then(() => this.#inner.return?.())
      .catch(() => undefined);
  }
}

/** Closes a source nobody will read (a load whose caller gave up meanwhile). */
export function discardSource(source: AsyncIterable<unknown>): void {
  Promise.resolve()
    .then(() => source[Symbol.asyncIterator]().return?.())
    .catch(() => undefined);
}
