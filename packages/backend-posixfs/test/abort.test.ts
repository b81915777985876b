import type { ByteSource } from "@borgstore/core";
import { expectCode } from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { filesBelow, openBackend } from "./helpers.js";

/** 4 MiB in 64 KiB chunks; fires `controller` before chunk `at` (Infinity: after the last). */
async function* aborting(controller: AbortController, at: number): ByteSource {
  for (let i = 0; i < 64; i++) {
    if (i === at) controller.abort();
    yield new Uint8Array(65_536).fill(i);
  }
  if (at === Number.POSITIVE_INFINITY) controller.abort();
}

describe("an aborted store leaves no temp file on disk", () => {
  for (const [moment, at] of [
    ["before it starts", 0],
    ["after the first chunk", 1],
    ["halfway", 32],
    ["right after the last chunk", Number.POSITIVE_INFINITY],
  ] as const) {
    it(`storeStream aborted ${moment}: ABORTED, and the store directory holds only the old value`, async () => {
      const backend = await openBackend();
      await backend.store("data/old", new Uint8Array([1, 2, 3]));
      const before = await filesBelow(backend.base);
      const controller = new AbortController();
      if (at === 0) controller.abort();
      await expectCode(backend.storeStream("data/new", aborting(controller, at), { signal: controller.signal }), "ABORTED");
      const over = new AbortController();
      await expectCode(backend.storeStream("data/old", aborting(over, at), { signal: over.signal }), "ABORTED");
      expect(await filesBelow(backend.base)).toEqual(before);
      expect(Array.from(await backend.load("data/old"))).toEqual([1, 2, 3]);
      await backend.close();
    });
  }
});

describe("an aborted hash leaves no descriptor open", () => {
  it("hash of a 32 MiB object aborted while it reads: ABORTED, no descriptor left on the file, and the next hash is right", async () => {
    const { readdirSync, readlinkSync } = await import("node:fs");
    const { createHash } = await import("node:crypto");
    const { join } = await import("node:path");
    const backend = await openBackend();
    const path = join(backend.base, "data", "big");
    /** Descriptors of this process open on the object's file. */
    const openOnObject = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === path;
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    const value = new Uint8Array(32 * 1024 * 1024).fill(7);
    await backend.store("data/big", value);
    for (const delayMs of [0, 1, 5]) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), delayMs);
      await expectCode(backend.hash("data/big", "sha256", { signal: controller.signal }), "ABORTED");
    }
    // The hashes go on until their next piece, then close: give them that long.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(openOnObject()).toBe(0);
    expect(await backend.hash("data/big")).toBe(createHash("sha256").update(value).digest("hex"));
    await backend.close();
  });
});
