import { QuotaExceeded } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { UserUsage } from "../src/hosting/usage.js";

// The quota figures on their own: hosting-quota.test.ts and hosting-usage.test.ts see them through a
// server, where a reservation off by one byte or a parked repository counted twice hides in the totals.

/** The QuotaExceeded `reserve` threw, or "fits" (its reservation given back). */
function tryReserve(reserve: () => () => void): string {
  try {
    reserve()();
    return "fits";
  } catch (err) {
    if (err instanceof QuotaExceeded) return err.message;
    throw err;
  }
}

describe("hosting usage figures", () => {
  it("a repository's figures start at 0, apply changes, are replaced by set, and note the last write", () => {
    const alice = new UserUsage("alice");
    const laptop = alice.repo("laptop");
    expect(alice.repo("laptop")).toBe(laptop);
    expect(laptop).toMatchObject({ bytes: 0, objects: 0, reserved: 0, lastWrite: undefined, name: "laptop", owner: alice });
    laptop.apply(10, 1);
    laptop.apply(-3, 2);
    expect(laptop).toMatchObject({ bytes: 7, objects: 3 });
    laptop.set(100, 5);
    expect(laptop).toMatchObject({ bytes: 100, objects: 5 });
    laptop.stored(1234);
    expect(laptop.lastWrite).toBe(1234);
    const before = Date.now();
    laptop.stored();
    expect(laptop.lastWrite).toBeGreaterThanOrEqual(before);
    expect(laptop.lastWrite).toBeLessThanOrEqual(Date.now());
  });

  it("reserves up to exactly a repository's limit, counting what is stored and reserved, and refuses a byte more, naming the repository", () => {
    const alice = new UserUsage("alice");
    const laptop = alice.repo("laptop");
    laptop.apply(40, 1);
    const held = laptop.reserve(50, { repo: 100 });
    expect(laptop.reserved).toBe(50);
    expect(tryReserve(() => laptop.reserve(10, { repo: 100 }))).toBe("fits");
    expect(tryReserve(() => laptop.reserve(11, { repo: 100 }))).toBe("quota exceeded: repository alice/laptop is limited to 100 bytes");
    held();
    held();
    expect(laptop.reserved).toBe(0);
    expect(tryReserve(() => laptop.reserve(60, { repo: 100 }))).toBe("fits");
    expect(tryReserve(() => laptop.reserve(61, { repo: 100 }))).toMatch(/repository alice\/laptop/);
    expect(tryReserve(() => laptop.reserve(1e9, {}))).toBe("fits");
  });

  it("reserves up to exactly a user's limit over all their repositories, open and parked, with every reservation counted", () => {
    const alice = new UserUsage("alice");
    const laptop = alice.repo("laptop");
    const desktop = alice.repo("desktop");
    laptop.apply(10, 1);
    desktop.apply(20, 1);
    alice.park("old", { bytes: 30, objects: 3 });
    expect(alice.bytes).toBe(60);
    const held = desktop.reserve(15, { user: 100 });
    expect(alice.reserved).toBe(15);
    expect(tryReserve(() => laptop.reserve(25, { user: 100 }))).toBe("fits");
    expect(tryReserve(() => laptop.reserve(26, { user: 100 }))).toBe("quota exceeded: user alice is limited to 100 bytes over all repositories");
    // The repository's own limit is checked first, and both apply.
    expect(tryReserve(() => laptop.reserve(26, { repo: 20, user: 100 }))).toMatch(/repository alice\/laptop/);
    expect(tryReserve(() => laptop.reserve(10, { repo: 20, user: 100 }))).toBe("fits");
    held();
    expect(alice.reserved).toBe(0);
  });

  it("parks a closed repository's figures (they still count), gives them back once, and forgets an open one", () => {
    const alice = new UserUsage("alice");
    const laptop = alice.repo("laptop");
    laptop.apply(10, 2);
    alice.repo("gone");
    expect(alice.tracked).toBe(2);
    alice.forget("gone");
    expect(alice.tracked).toBe(1);
    alice.park("laptop", { bytes: 10, objects: 2, lastWrite: 5 });
    expect(alice.repos.has("laptop")).toBe(false);
    expect(alice.tracked).toBe(1);
    expect(alice.bytes).toBe(10);
    expect([...alice.parked()]).toEqual([["laptop", { bytes: 10, objects: 2, lastWrite: 5 }]]);
    // Parked again with new figures: the old ones no longer count.
    alice.park("laptop", { bytes: 7, objects: 1 });
    expect(alice.bytes).toBe(7);
    expect(alice.unpark("laptop")).toEqual({ bytes: 7, objects: 1, lastWrite: undefined });
    expect(alice.bytes).toBe(0);
    expect(alice.unpark("laptop")).toBeUndefined();
    expect(alice.bytes).toBe(0);
    expect(alice.tracked).toBe(0);
    // A parked copy is the figures of then, not the object handed in.
    const figures = { bytes: 3, objects: 1 };
    alice.park("desk", figures);
    figures.bytes = 1000;
    expect(alice.bytes).toBe(3);
  });
});
