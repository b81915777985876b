import { setImmediate as yieldToEventLoop } from "node:timers/promises";

/** Calls a backend makes on the spot before one of them waits a turn of the event loop. */
const CALLS_PER_TURN = 256;

/**
 * Keeps the synchronous fast paths (`syncReads`, `syncWrites`) from holding the event loop: a
 * call made on the spot resolves in microtasks, so a caller looping over loads, infos, small
 * stores or deletes would never let a timer, a socket or a thread-pool completion run (a delete
 * waiting for the pool behind four readers looping over loads waited forever). Every
 * CALLS_PER_TURN-th call waits one turn first: a cost of one setImmediate per 256 calls.
 */
export class SyncTurns {
  #left = CALLS_PER_TURN;

  /** Undefined: make the call on the spot now; else await the promise first. */
  take(): Promise<void> | undefined {
    if (--this.#left > 0) return undefined;
    this.#left = CALLS_PER_TURN;
    return yieldToEventLoop();
  }
}
