import { settled } from "../settled.js";

/**
 * Runs tasks one after another per key, and tasks of different keys side by side: a backend's
 * own operations on one name (a rename onto it, a store through a temp file) never interleave.
 * A failed task does not stop the ones queued after it.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `task` once every task queued before it for `key` has settled; settles like `task`. A
   * key with no task queued starts `task` at once, in this call (no turn of the event loop first:
   * every store of a new name takes this path); a task that throws at once rejects the promise.
   */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    const mine = previous === undefined ? settled(task) : previous.then(() => task(), () => task());
    this.#tails.set(key, mine);
    const forget = () => {
      if (this.#tails.get(key) === mine) this.#tails.delete(key);
    };
    mine.then(forget, forget);
    return mine;
  }

  /**
   * Runs `task` holding the turn of every key: after every task queued before it on any of them,
   * before every task queued after it. It takes its place on all its keys at once, when called, so
   * a task waits only for tasks queued earlier: no two can wait for each other, and a later task on
   * its second key cannot slip ahead while it waits for its first.
   */
  runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    const before = unique.map((key) => this.#tails.get(key));
    const mine = Promise.allSettled(before).then(() => task());
    for (const key of unique) this.#tails.set(key, mine);
    const forget = () => {
      for (const key of unique) if (this.#tails.get(key) === mine) this.#tails.delete(key);
    };
    mine.then(forget, forget);
    return mine;
  }
}
