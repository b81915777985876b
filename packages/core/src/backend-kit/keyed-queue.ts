/**
 * Runs tasks one after another per key, and tasks of different keys side by side: a backend's
 * own operations on one name (a rename onto it, a store through a temp file) never interleave.
 * A failed task does not stop the ones queued after it.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `task` once every task queued before it for `key` has settled; settles like `task`. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const mine = previous.then(task, task);
    this.#tails.set(key, mine);
    const forget = () => {
      if (this.#tails.get(key) === mine) this.#tails.delete(key);
    };
    mine.then(forget, forget);
    return mine;
  }

  /**
   * Runs `task` holding the turn of every key. Keys are taken one by one in sorted order: as all
   * multi-key tasks take them in that same order, no two can wait for each other's keys.
   */
  runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const nest = (at: number): Promise<T> => {
      const key = sorted[at];
      return key === undefined ? task() : this.run(key, () => nest(at + 1));
    };
    return nest(0);
  }
}
