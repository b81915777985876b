import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openBackend } from "./helpers.js";

// What a breaker found in the read paths: memory that grew with the hashes in flight, and a
// caller's `into` buffer written after its load had already rejected as aborted.
describe.each([true, false])("posixfs read bounds (syncReads: %s)", (syncReads) => {
  it("hashes of many objects at once hold about what those objects weigh, not a 1 MiB buffer each", async () => {
    const backend = await openBackend({ syncReads });
    await backend.store("small", randomBytes(16 * 1024));
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 1);
    const hashes = Array.from({ length: 400 }, () => backend.hash("small"));
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    const digests = new Set(await Promise.all(hashes));
    clearInterval(sampler);
    expect(digests.size).toBe(1);
    // 400 × 16 KiB is 6.25 MiB (and 4 pooled MiB); a 1 MiB buffer per hash would be 400 MiB.
    expect((peak - before) / 2 ** 20).toBeLessThan(64);
    await backend.close();
  });

  it("an aborted load into the caller's buffer settles only once nothing writes into it any more", async () => {
    const backend = await openBackend({ syncReads });
    const size = 8 * 2 ** 20;
    await backend.store("big", randomBytes(size));
    let aborted = 0;
    let writtenAfter = 0;
    for (let round = 0; round < 12; round++) {
      const into = new Uint8Array(size);
      const controller = new AbortController();
      const load = backend.load("big", { into, signal: controller.signal });
      setTimeout(() => controller.abort(), round % 4);
      try {
        await load;
        continue;
      } catch (err) {
        expect((err as { code?: string }).code).toBe("ABORTED");
        aborted++;
      }
      into.fill(0xee);
      await new Promise((resolve) => setTimeout(resolve, 30));
      if (into.some((byte) => byte !== 0xee)) writtenAfter++;
    }
    expect(writtenAfter).toBe(0);
    expect(aborted).toBeGreaterThan(0);
    await backend.close();
  });
});
