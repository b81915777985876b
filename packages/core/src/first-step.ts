const DONE: IteratorResult<never> = Object.freeze({ done: true, value: undefined });

/**
 * The items of `open()`, which runs at the first step (its errors reject that step), as an async
 * generator's body would: checks surface where the caller iterates. Unlike `yield*` in an async
 * generator, each later step is the inner iterator's own (no promise turns of its own per item,
 * measured: a wrapping generator level cost a 1,000-item posixfs listing about 5% of its CPU).
 */
export function openOnFirstStep<T>(open: () => AsyncIterable<T>): AsyncIterableIterator<T> {
  return new FirstStepIterator(open);
}

class FirstStepIterator<T> implements AsyncIterableIterator<T> {
  #open: (() => AsyncIterable<T>) | undefined;
  #inner: AsyncIterator<T> | undefined;

  constructor(open: () => AsyncIterable<T>) {
    this.#open = open;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#inner) return this.#inner.next();
    const open = this.#open;
    if (!open) return Promise.resolve(DONE);
    this.#open = undefined;
    try {
      this.#inner = open()[Symbol.asyncIterator]();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#inner.next();
  }

  /** Closes the inner iterator; before the first step there is none, and nothing runs. */
  async return(): Promise<IteratorResult<T>> {
    this.#open = undefined;
    const inner = this.#inner;
    if (!inner?.return) return DONE;
    await inner.return();
    return DONE;
  }
}
