import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { type AckingChild, createdBase, expectAckedWhole, startAckingChild } from "./helpers.js";

const writerScript = fileURLToPath(new URL("./fixtures/small-writer.mjs", import.meta.url));
const QUOTA = 1_000_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A process storing 1 KiB values (and persisting the quota every 10), `count` of them or until killed. */
function startSmallWriter(base: string, id: number, acked: Set<string>, count = 0): AckingChild {
  return startAckingChild(writerScript, [base, String(QUOTA), String(id), String(count)], acked);
}

/** Every file below `dir` whose name is a temp file's, wherever it lies. */
async function tempFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".tmp")).map((e) => join(e.parentPath, e.name));
}

describe("posixfs temp files of small stores and of quota.hid", () => {
  it("a small-value writer SIGKILLed at random moments leaves no temp file after the next open, loses nothing acknowledged, shows nothing partial", async () => {
    const base = await createdBase();
    const acked = new Set<string>();
    // 5 rounds of two writers killed at different moments: 10 kills.
    for (let round = 0; round < 5; round++) {
      const writers = [0, 1].map((w) => startSmallWriter(base, 2 * round + w, acked));
      await Promise.race([Promise.all(writers.map((w) => w.ready)), sleep(10_000)]);
      for (const writer of writers) {
        await sleep(50 + Math.random() * 250);
        writer.child.kill("SIGKILL");
        expect(await writer.exit).toEqual({ code: null, signal: "SIGKILL" });
      }

      const backend = new PosixFsBackend({ path: base, quota: QUOTA });
      await backend.open();
      expect(await tempFiles(base), `round ${round}`).toEqual([]);
      await expectAckedWhole(base, acked, { skipTempFiles: true });
      await backend.close();
    }
    expect(acked.size).toBeGreaterThan(10);
  }, 60_000);

  it("opens of the store in this process never break the small stores another process is writing", async () => {
    const base = await createdBase();
    const acked = new Set<string>();
    const writer = startSmallWriter(base, 0, acked, 1000);
    await Promise.race([writer.ready, sleep(10_000)]);
    let finished = false;
    const exit = writer.exit.finally(() => (finished = true));
    let opens = 0;
    while (!finished) {
      const reopened = new PosixFsBackend({ path: base, quota: QUOTA });
      await reopened.open();
      await reopened.close();
      opens++;
    }
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(acked.size).toBe(1000);
    expect(opens).toBeGreaterThan(5);
    await expectAckedWhole(base, acked, { skipTempFiles: true });
    expect(await tempFiles(base)).toEqual([]);
  }, 60_000);
});
