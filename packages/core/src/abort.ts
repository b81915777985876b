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
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const inner = source[Symbol.asyncIterator]();
      let finished = false;
      const close = () => {
        if (finished) return;
        finished = true;
        // Not awaited: an async generator queues return() behind a pending next().
        Promise.resolve()
          .then(() => inner.return?.())
          .catch(() => undefined);
      };
      const stop = (): never => {
        close();
        throw abortError(signal);
      };
      return {
        async next(): Promise<IteratorResult<T>> {
          if (finished) return { done: true, value: undefined };
          if (signal.aborted) stop();
          let step: IteratorResult<T>;
          try {
            step = await raceAbort(inner.next(), signal);
          } catch (err) {
            if (signal.aborted) stop();
            finished = true;
            throw err;
          }
          if (step.done) {
            finished = true;
            throwIfAborted(signal);
          }
          return step;
        },
        async return(): Promise<IteratorResult<T>> {
          close();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

/** Closes a source nobody will read (a load whose caller gave up meanwhile). */
export function discardSource(source: AsyncIterable<unknown>): void {
  Promise.resolve()
    .then(() => source[Symbol.asyncIterator]().return?.())
    .catch(() => undefined);
}
