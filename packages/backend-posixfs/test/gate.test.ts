import { describe, expect, it } from "vitest";
import { Gate } from "../src/gate.js";

function later(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("Gate", () => {
  it("runs at most `limit` tasks at once, the others in the order they came, also after a task fails", async () => {
    const gate = new Gate(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const task = (i: number) =>
      gate.run(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await later(5);
        running--;
        if (i === 1) throw new Error("task 1 failed");
        return i;
      });
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => task(i)));
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : "failed"))).toEqual([0, "failed", 2, 3, 4, 5, 6, 7]);
    // The slots came back: two run at once again.
    await Promise.all([task(8), task(9), task(10)]);
    expect(most).toBe(2);
  });
});
