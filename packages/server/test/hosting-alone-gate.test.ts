import { describe, expect, it } from "vitest";
import { AloneGate } from "../src/hosting/alone-gate.js";

// AloneGate on its own: UsageLayer's directory moves use it, where a task let through too early shows
// only as a figure off after a race.

function deferred(): { promise: Promise<void>; resolve(): void; reject(err: Error): void } {
  let resolve = () => {};
  let reject: (err: Error) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
const turn = () => new Promise((resolve) => setImmediate(resolve));
const busy = () => new Error("busy");

describe("AloneGate", () => {
  it("runs tasks together at once and hands back their results and failures, also a task that throws before its promise", async () => {
    const gate = new AloneGate();
    const a = deferred();
    let started = 0;
    const first = gate.together(async () => {
      started++;
      await a.promise;
      return 1;
    });
    const second = gate.together(async () => {
      started++;
      return 2;
    });
    expect(started).toBe(2);
    a.resolve();
    expect(await first).toBe(1);
    expect(await second).toBe(2);
    await expect(gate.together(() => Promise.reject(new Error("no")))).rejects.toThrow("no");
    await expect(
      gate.together(() => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    // None of them is still counted: a task alone runs at once.
    let ran = false;
    await gate.alone(async () => void (ran = true), 10, busy);
    expect(ran).toBe(true);
  });

  it("runs a task alone once the ones in progress are done, newcomers after it", async () => {
    const gate = new AloneGate();
    const order: string[] = [];
    const running = deferred();
    const failing = deferred();
    const a = gate.together(async () => {
      await running.promise;
      order.push("a");
    });
    const b = gate.together(async () => {
      await failing.promise;
    });
    const alone = gate.alone(
      async () => {
        order.push("alone start");
        await turn();
        order.push("alone end");
      },
      5000,
      busy,
    );
    const later = gate.together(async () => void order.push("later"));
    await turn();
    expect(order).toEqual([]);
    running.resolve();
    await a;
    await turn();
    expect(order).toEqual(["a"]);
    failing.reject(new Error("failed"));
    await expect(b).rejects.toThrow("failed");
    await alone;
    await later;
    expect(order).toEqual(["a", "alone start", "alone end", "later"]);
  });

  it("two tasks alone run one after the other, and a failing one opens the gate too", async () => {
    const gate = new AloneGate();
    const order: string[] = [];
    const first = gate.alone(
      async () => {
        order.push("1 start");
        await turn();
        order.push("1 end");
        throw new Error("one");
      },
      100,
      busy,
    );
    const second = gate.alone(async () => void order.push("2"), 100, busy);
    await expect(first).rejects.toThrow("one");
    await second;
    expect(order).toEqual(["1 start", "1 end", "2"]);
    expect(await gate.together(async () => 3)).toBe(3);
  });

  it("gives up with busy() when the tasks in progress outlast the wait, and lets everyone go on", async () => {
    const gate = new AloneGate();
    const slow = deferred();
    const task = gate.together(() => slow.promise);
    let ran = false;
    const started = performance.now();
    await expect(gate.alone(async () => void (ran = true), 50, busy)).rejects.toThrow("busy");
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(ran).toBe(false);
    expect(await gate.together(async () => "after")).toBe("after");
    slow.resolve();
    await task;
    // The gate counts right after all that: a task alone now needs no wait.
    await gate.alone(async () => void (ran = true), 1, busy);
    expect(ran).toBe(true);
  });
});
