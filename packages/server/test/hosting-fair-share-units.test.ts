import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { FairShare } from "../src/hosting/fair-share.js";
import { HttpError } from "../src/http-error.js";

// FairShare on its own: the slot counting, queue and bandwidth buckets that hosting-fair-share.test.ts
// sees only through a server (where a miscount shows as a flood test's timing).

const limits = (maxInFlight: number, maxQueued: number, bandwidth?: number) => ({ maxInFlight, maxQueued, bandwidth });
const never = new AbortController().signal;
/** Whether `promise` settled within the turns already queued. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe("FairShare", () => {
  it("admits at once (no promise) below the limit, counts running and peak per user, and a release counts once", () => {
    const share = new FairShare();
    const a = share.admit("alice", limits(2, 1), never);
    expect(a).not.toBeInstanceOf(Promise);
    const b = share.admit("alice", limits(2, 1), never);
    expect(b).not.toBeInstanceOf(Promise);
    expect(share.running("alice")).toEqual({ now: 2, peak: 2 });
    expect(share.running("bob")).toEqual({ now: 0, peak: 0 });
    expect(share.admit("bob", limits(2, 1), never)).not.toBeInstanceOf(Promise);
    expect(share.running("bob")).toEqual({ now: 1, peak: 1 });
    (a as { release(): void }).release();
    (a as { release(): void }).release();
    expect(share.running("alice")).toEqual({ now: 1, peak: 2 });
    (b as { release(): void }).release();
    expect(share.running("alice")).toEqual({ now: 0, peak: 2 });
  });

  it("queues up to max_queued in arrival order, hands a released slot straight to the first, and refuses the next with 503 and Retry-After: 1", async () => {
    const share = new FairShare();
    const first = share.admit("alice", limits(1, 2), never) as { release(): void };
    const second = share.admit("alice", limits(1, 2), never);
    const third = share.admit("alice", limits(1, 2), never);
    expect(second).toBeInstanceOf(Promise);
    expect(third).toBeInstanceOf(Promise);
    let refusal: unknown;
    try {
      share.admit("alice", limits(1, 2), never);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(HttpError);
    expect(refusal).toMatchObject({ status: 503, headers: { "Retry-After": "1" } });
    expect((refusal as Error).message).toMatch(/too many requests of this user/);
    expect(await settled(second as Promise<unknown>)).toBe(false);

    first.release();
    expect(await settled(second as Promise<unknown>)).toBe(true);
    expect(await settled(third as Promise<unknown>)).toBe(false);
    expect(share.running("alice")).toEqual({ now: 1, peak: 1 });
    // A place in the queue came free: one more may wait.
    const fourth = share.admit("alice", limits(1, 2), never);
    expect(fourth).toBeInstanceOf(Promise);
    (await second).release();
    expect(await settled(third as Promise<unknown>)).toBe(true);
    expect(await settled(fourth as Promise<unknown>)).toBe(false);
    (await third).release();
    (await fourth).release();
    expect(share.running("alice")).toEqual({ now: 0, peak: 1 });
  });

  it("a client that leaves gives up its place: rejected with the signal's reason, and a slot then goes to the one behind it", async () => {
    const share = new FairShare();
    const first = share.admit("alice", limits(1, 1), never) as { release(): void };
    const leaving = new AbortController();
    const waiting = share.admit("alice", limits(1, 1), leaving.signal) as Promise<unknown>;
    const reason = new Error("gone");
    leaving.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    // Its place is free again, and the next release admits the new waiter rather than nobody.
    const next = share.admit("alice", limits(1, 1), never) as Promise<{ release(): void }>;
    expect(next).toBeInstanceOf(Promise);
    first.release();
    expect(await settled(next)).toBe(true);
    expect(share.running("alice").now).toBe(1);

    const gone = new AbortController();
    gone.abort(reason);
    const late = share.admit("alice", limits(1, 1), gone.signal) as Promise<unknown>;
    await expect(late).rejects.toBe(reason);
    // The already-aborted request never took a place: another may still queue.
    expect(share.admit("alice", limits(1, 1), never)).toBeInstanceOf(Promise);
  });

  it("a waiter that was admitted drops its abort listener: a later abort changes nothing", async () => {
    const share = new FairShare();
    const first = share.admit("alice", limits(1, 1), never) as { release(): void };
    const controller = new AbortController();
    const waiting = share.admit("alice", limits(1, 1), controller.signal) as Promise<{ release(): void }>;
    first.release();
    const admitted = await waiting;
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    controller.abort();
    expect(share.running("alice").now).toBe(1);
    admitted.release();
    expect(share.running("alice").now).toBe(0);
  });

  it("under a limit a reload lowered, hands a slot on only once the running count is within the new limit", async () => {
    const share = new FairShare();
    const a = share.admit("alice", limits(2, 4), never) as { release(): void };
    const b = share.admit("alice", limits(2, 4), never) as { release(): void };
    const waiting = share.admit("alice", limits(1, 4), never) as Promise<{ release(): void }>;
    expect(waiting).toBeInstanceOf(Promise);
    a.release();
    expect(await settled(waiting)).toBe(false);
    expect(share.running("alice").now).toBe(1);
    b.release();
    expect(await settled(waiting)).toBe(true);
    expect(share.running("alice").now).toBe(1);
  });

  it("paces with the user's bandwidth: none without one; the bucket kept while the rate stays and made anew when it changes", () => {
    const share = new FairShare();
    const free = share.admit("alice", limits(4, 1), never) as { pace: unknown };
    expect(free.pace).toBeUndefined();
    const paced = share.admit("alice", limits(4, 1, 1 << 20), never) as unknown as { pace: { rate: number } };
    expect(paced.pace.rate).toBe(1 << 20);
    expect((share.admit("alice", limits(4, 1, 1 << 20), never) as { pace: unknown }).pace).toBe(paced.pace);
    const changed = share.admit("alice", limits(4, 1, 2 << 20), never) as unknown as { pace: { rate: number } };
    expect(changed.pace).not.toBe(paced.pace);
    expect(changed.pace.rate).toBe(2 << 20);
    expect((share.admit("alice", limits(4, 1), never) as { pace: unknown }).pace).toBeUndefined();
  });

  it("a bucket starts with one second of the rate, each direction its own, and waits for what is beyond it", async () => {
    const share = new FairShare();
    const rate = 256 * 1024;
    const { pace } = share.admit("alice", limits(4, 1, rate), never) as unknown as {
      pace: { received(n: number): Promise<void>; sending(n: number): Promise<void> };
    };
    let started = performance.now();
    await pace.received(rate);
    await pace.sending(rate);
    expect(performance.now() - started).toBeLessThan(250);
    started = performance.now();
    await Promise.all([pace.received(rate / 2), pace.sending(rate / 2)]);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThan(300);
    expect(waited).toBeLessThan(900);
    started = performance.now();
    await pace.sending(rate / 2);
    expect(performance.now() - started).toBeGreaterThan(300);
  });
});
