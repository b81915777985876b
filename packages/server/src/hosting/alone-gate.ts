/**
 * Lets tasks run side by side (`together`), and one task run alone (`alone`) once those in progress
 * are done, newcomers waiting behind it. A directory's move renames every name below it at once:
 * a store or delete of such a name must not straddle it, or its figures would count an object that
 * went elsewhere (UsageLayer). Tasks must not nest: one that waits for another deadlocks `alone`.
 */
export class AloneGate {
  #running = 0;
  #alone: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  together<T>(task: () => Promise<T>): Promise<T> {
    // Nothing alone (every store but those around a directory's move): at once, no async frame of its own.
    if (this.#alone) return this.#togetherAfterAlone(task);
    this.#running++;
    let running: Promise<T>;
    try {
      running = task();
    } catch (err) {
      this.#finished();
      return Promise.reject(err);
    }
    const finished = () => this.#finished();
    running.then(finished, finished);
    return running;
  }

  async #togetherAfterAlone<T>(task: () => Promise<T>): Promise<T> {
    while (this.#alone) await this.#alone;
    this.#running++;
    try {
      return await task();
    } finally {
      this.#finished();
    }
  }

  #finished(): void {
    this.#running--;
    if (this.#running === 0) this.#drained?.();
  }

  /**
   * Runs `task` alone, waiting at most `waitLimitMs` for the tasks in progress (a slow upload must
   * not hold up everyone behind it): throws `busy()` when they are not done by then.
   */
  async alone<T>(task: () => Promise<T>, waitLimitMs: number, busy: () => Error): Promise<T> {
    while (this.#alone) await this.#alone;
    let open = () => {};
    this.#alone = new Promise<void>((resolve) => {
      open = resolve;
    });
    try {
      if (this.#running > 0 && !(await this.#drain(waitLimitMs))) throw busy();
      return await task();
    } finally {
      this.#drained = undefined;
      this.#alone = undefined;
      open();
    }
  }

  #drain(waitLimitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), waitLimitMs);
      this.#drained = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}
