import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs fixture shared with the writer processes
import { smallValueFor } from "./fixtures/crash-values.mjs";
import { newBackend, startAckingChild } from "./helpers.js";

// owner-lock.test.ts's design against real processes: writers SIGKILLed while they store, and
// sweeps (opens of this process) racing a live writer process. Left out of mutation testing (a
// child process per writer, seconds per run); owner-lock.test.ts covers the sweep in-process.

const writerScript = fileURLToPath(new URL("./fixtures/owner-writer.mjs", import.meta.url));
const value = smallValueFor as (name: string) => Buffer;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createdBase(): Promise<string> {
  const backend = newBackend();
  await backend.create();
  return backend.base;
}

const uploadsOf = (base: string) => join(base, "uploads.hid");
const entries = (base: string): string[] => (existsSync(uploadsOf(base)) ? readdirSync(uploadsOf(base)).sort() : []);

/** The lock files in uploads.hid that process `pid` holds open. */
function locksHeldBy(pid: number, base: string): string[] {
  const held: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith(`${uploadsOf(base)}/`) && target.endsWith(".lock")) held.push(target.slice(uploadsOf(base).length + 1));
    } catch {}
  }
  return held;
}

/** Every acknowledged name holds its whole value, and every object on disk is whole. */
async function expectAckedWhole(base: string, acked: Set<string>): Promise<void> {
  for (const name of acked) expect((await readFile(join(base, name))).equals(value(name)), `acknowledged ${name}`).toBe(true);
  for (const entry of await readdir(base, { withFileTypes: true, recursive: true })) {
    const rel = join(entry.parentPath, entry.name).slice(base.length + 1);
    if (!entry.isFile() || rel.split("/").some((part) => part.endsWith(".hid"))) continue;
    expect((await readFile(join(base, rel))).equals(value(rel)), `whole ${rel}`).toBe(true);
  }
}

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
      expect(entries(base)).toEqual(expect.arrayContaining(doomedLocks));
      // Opens (each sweeps) while the live writer stores: at least 5, and until it acknowledged
      // 40 stores more (however slow a loaded machine makes either side).
      const liveAcked = () => [...acked].filter((name) => name.startsWith(`wl${round}s`)).length;
      const before = liveAcked();
      for (let sweeps = 0; sweeps < 5 || liveAcked() < before + 40; sweeps++) {
        expect(live.child.exitCode, "the live writer still runs").toBeNull();
        const backend = new PosixFsBackend(base);
        await backend.open();
        await backend.close();
        for (const lock of doomedLocks) expect(entries(base)).not.toContain(lock);
        if (sweeps > 5) await sleep(5);
      }
      live.child.kill("SIGTERM");
      expect(await live.exit, "the live writer's stores all succeeded").toEqual({ code: 0, signal: null });
      await expectAckedWhole(base, acked);
      // Nothing of the dead writer's is left, and the live one's close took its own.
      expect(entries(base)).toEqual([]);
    }
  }, 60_000);

});
