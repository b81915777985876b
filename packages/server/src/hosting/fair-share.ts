import { TokenBucket } from "limiter";
import { HttpError } from "../http-error.js";
import type { BodyPace } from "../reply.js";
import type { FairShareLimits, HostingConfig } from "./config.js";

/** Seconds a user refused for a full queue is told to wait (Retry-After). */
const RETRY_AFTER_SECONDS = 1;

/** `user`'s limits: their [users.NAME] figures over the [fair_share] ones. */
export function fairShareOf(config: HostingConfig, user: string): FairShareLimits {
  const own = Object.hasOwn(config.users, user) ? config.users[user] : undefined;
  return {
    maxInFlight: own?.maxInFlight ?? config.fairShare.maxInFlight,
    maxQueued: own?.maxQueued ?? config.fairShare.maxQueued,
    bandwidth: own?.bandwidth ?? config.fairShare.bandwidth,
  };
}

/** One admitted request: `pace` (its user's bandwidth, if limited) and `release` (exactly once, when it is done). */
export interface Admission {
  pace: BodyPace | undefined;
  release(): void;
}

interface Waiter {
  admit(): void;
  abandon(): void;
}

interface Share {
  running: number;
  /** Most running at once since the server started (tests and monitoring). */
  peak: number;
  readonly queue: Waiter[];
  bandwidth: Bandwidth | undefined;
  /** The limit of the configuration last seen for the user (a reload may have lowered it). */
  maxInFlight: number;
}

/**
 * Each user's share of the server, so that one tenant cannot starve the others: at most
 * `maxInFlight` of a user's requests run at once, the next `maxQueued` wait in arrival order for
 * one of them to finish (a slot passes straight to the first waiter, so the count never goes over),
 * and beyond that a request is refused at once with 503 and Retry-After. Neither client retries a
 * 503 (the Python client raises it, ours too): the defaults let a client of ours (16 in flight) and
 * any number of sequential Python clients never see one; only a flood of one user's requests does.
 * A user's bandwidth (bytes per second, in and out each) is a token bucket the request's body
 * reading and response writing wait on (reply.ts paces them).
 *
 * A user's figures stay while the server runs: forgetting an idle user would hand a sequential
 * client a full bucket at each request. They are bounded by the logins of the htpasswd file.
 */
export class FairShare {
  readonly #shares = new Map<string, Share>();

  /**
   * Waits for a slot of `user` under `limits` (from the configuration in force); 503 (thrown) when
   * the user's queue is full. A fired `signal` (the client left) gives up the place in the queue.
   */
  admit(user: string, limits: FairShareLimits, signal: AbortSignal): Admission | Promise<Admission> {
    const share = this.#share(user, limits);
    // A free slot (every request of a user within its limit): admitted at once, without a promise.
    if (share.running < limits.maxInFlight) {
      share.running++;
      return this.#admitted(share);
    }
    if (share.queue.length >= limits.maxQueued)
      throw new HttpError(503, "Service Unavailable: too many requests of this user at once, retry later", {
        "Retry-After": String(RETRY_AFTER_SECONDS),
      });
    return this.#wait(share, signal).then(() => this.#admitted(share));
  }

  #admitted(share: Share): Admission {
    share.peak = Math.max(share.peak, share.running);
    let released = false;
    return {
      pace: share.bandwidth,
      release: () => {
        if (released) return;
        released = true;
        this.#release(share);
      },
    };
  }

  /** Requests of `user` running now, and the most that ever ran at once. */
  running(user: string): { now: number; peak: number } {
    const share = this.#shares.get(user);
    return { now: share?.running ?? 0, peak: share?.peak ?? 0 };
  }

  #share(user: string, limits: FairShareLimits): Share {
    let share = this.#shares.get(user);
    if (!share) {
      share = { running: 0, peak: 0, queue: [], bandwidth: undefined, maxInFlight: limits.maxInFlight };
      this.#shares.set(user, share);
    }
    share.maxInFlight = limits.maxInFlight;
    // A reload that changed the rate: a new bucket from now on (requests running keep theirs).
    if (share.bandwidth?.rate !== limits.bandwidth) share.bandwidth = limits.bandwidth === undefined ? undefined : new Bandwidth(limits.bandwidth);
    return share;
  }

  #wait(share: Share, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => waiter.abandon();
      const waiter: Waiter = {
        admit: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
        abandon: () => {
          const at = share.queue.indexOf(waiter);
          if (at >= 0) share.queue.splice(at, 1);
          reject(signal.reason ?? new Error("the client left while its request waited for its turn"));
        },
      };
      if (signal.aborted) return reject(signal.reason);
      share.queue.push(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #release(share: Share): void {
    // The slot goes to the first waiter in the same step: the count never passes the limit. Under
    // a limit a reload lowered, it shrinks as requests finish, each slot handed on only once the
    // count is within the new limit (not the one the finishing request was admitted under).
    if (share.running <= share.maxInFlight) {
      const next = share.queue.shift();
      if (next) {
        next.admit();
        return;
      }
    }
    share.running--;
  }
}

/** Largest piece taken from a bucket at once (it must not exceed the bucket's size). */
const PIECE = 64 * 1024;

/**
 * A user's bandwidth: one token bucket per direction (limiter's TokenBucket: FIFO, so the user's
 * own requests take turns), each holding one second of the rate and starting full, so a small
 * request after a pause goes at once.
 */
class Bandwidth implements BodyPace {
  readonly rate: number;
  readonly #in: TokenBucket;
  readonly #out: TokenBucket;

  constructor(rate: number) {
    this.rate = rate;
    this.#in = fullBucket(rate);
    this.#out = fullBucket(rate);
  }

  received(bytes: number): Promise<void> {
    return take(this.#in, bytes);
  }

  sending(bytes: number): Promise<void> {
    return take(this.#out, bytes);
  }
}

function fullBucket(rate: number): TokenBucket {
  const bucket = new TokenBucket({ bucketSize: rate, tokensPerInterval: rate, interval: "second" });
  bucket.content = rate;
  return bucket;
}

async function take(bucket: TokenBucket, bytes: number): Promise<void> {
  for (let left = bytes; left > 0; left -= PIECE) await bucket.removeTokens(Math.min(left, PIECE));
}
