import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { createdBase, expectAckedWhole, locksHeldBy, startAckingChild, uploadsEntries } from "./helpers.js";

// owner-lock.test.ts's design against real processes: writers SIGKILLed while they store, and
// sweeps (opens of this process) racing a live writer process. Left out of mutation testing (a
// child process per writer, seconds per run); owner-lock.test.ts covers the sweep in-process.

const writerScript = fileURLToPath(new URL("./fixtures/owner-writer.mjs", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(process.platform !== "linux")("posixfs owner locks across processes", () => {
  it("a writer process SIGKILLed at random moments: nothing acknowledged lost or partial; a sweep racing a live writer process never breaks its stores; the dead one's files go", async () => {
    const base = await createdBase();
    const acked = new Set<string>();
    for (let round = 0; round < 4; round++) {
      // Two sessions in each process; the live one stores until told to stop (SIGTERM), then must
      // finish cleanly.
      const doomed = startAckingChild(writerScript, [base, `d${round}`, "0", "2"], acked);
      const live = startAckingChild(writerScript, [base, `l${round}`, "-1", "2"], acked);
      await Promise.race([Promise.all([doomed.ready, live.ready]), sleep(10_000)]);
      await sleep(100 + Math.random() * 300);
      const doomedLocks = locksHeldBy(doomed.child.pid as number, base);
      expect(doomedLocks, `round ${round}`).toHaveLength(2);
      doomed.child.kill("SIGKILL");
      expect(await doomed.exit).toEqual({ code: null, signal: "SIGKILL" });
      expect(uploadsEntries(base)).toEqual(expect.arrayContaining(doomedLocks));
      // Opens (each sweeps) while the live writer stores: at least 5, and until it acknowledged
      // 40 stores more (however slow a loaded machine makes either side).
      const liveAcked = () => [...acked].filter((name) => name.startsWith(`wl${round}s`)).length;
      const before = liveAcked();
      for (let sweeps = 0; sweeps < 5 || liveAcked() < before + 40; sweeps++) {
        expect(live.child.exitCode, "the live writer still runs").toBeNull();
        const backend = new PosixFsBackend(base);
        await backend.open();
        await backend.close();
        for (const lock of doomedLocks) expect(uploadsEntries(base)).not.toContain(lock);
        if (sweeps > 5) await sleep(5);
      }
      live.child.kill("SIGTERM");
      expect(await live.exit, "the live writer's stores all succeeded").toEqual({ code: 0, signal: null });
      await expectAckedWhole(base, acked);
      // Nothing of the dead writer's is left, and the live one's close took its own.
      expect(uploadsEntries(base)).toEqual([]);
    }
  }, 60_000);

});
