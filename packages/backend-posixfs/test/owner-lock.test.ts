import { closeSync, constants, existsSync, openSync, unlinkSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs fixture shared with the writer processes
import { smallValueFor } from "./fixtures/crash-values.mjs";
import { OWNED_TEMP, bytes, createdBase, expectAckedWhole, locksHeldBy, text, uploadsEntries, uploadsOf } from "./helpers.js";

// One flock per session instead of one per temp file: a session that writes holds
// uploads.hid/<owner>.lock locked until it closes, and names its temp files <owner>.tmp….tmp; a
// sweep removes the temp files (and the lock file) of owners whose lock is free.

const value = smallValueFor as (name: string) => Buffer;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OWNER_LOCK_NAME = /^[0-9a-f]{16}\.lock$/;

const fs = createRequire(import.meta.url)("node:fs") as typeof import("node:fs");
const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as { flockSync: (fd: number, flags: string) => void };
const held: number[] = [];
afterEach(() => {
  for (const fd of held.splice(0)) closeSync(fd);
});

/** Holds the flock on `path` through a descriptor of this process, as a live session would. */
function holdLock(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  held.push(fd);
  flockSync(fd, "exnb");
}

describe("posixfs uploads: one owner lock per session", () => {
  it("a session that writes keeps one lock file while open and none after close; one that only reads makes none", async () => {
    const base = await createdBase();
    const reader = new PosixFsBackend(base);
    await reader.open();
    expect((await reader.info("nothing")).exists).toBe(false);
    await reader.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
    const writer = new PosixFsBackend(base);
    await writer.open();
    for (let i = 0; i < 20; i++) await writer.store(`k${i}`, bytes(i * 5000));
    await writer.storeStream("s", (async function* () {
      yield text("abc");
    })());
    const during = uploadsEntries(base);
    expect(during).toEqual([expect.stringMatching(OWNER_LOCK_NAME)]);
    expect(locksHeldBy(process.pid, base)).toEqual(during);
    await writer.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
    expect(locksHeldBy(process.pid, base)).toEqual([]);
    // A reopened session claims a new owner.
    await writer.open();
    await writer.store("again", text("x"));
    expect(uploadsEntries(base)).toHaveLength(1);
    expect(uploadsEntries(base)).not.toEqual(during);
    await writer.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
  });

  it("the sweep removes a dead owner's temp files and lock file, and temp files whose owner has no lock file; a live owner's stay", async () => {
    const base = await createdBase();
    const uploads = uploadsOf(base);
    await mkdir(uploads);
    const dead = "0123456789abcdef";
    const live = "fedcba9876543210";
    const gone = "00000000ffffffff";
    await writeFile(join(uploads, `${dead}.lock`), "");
    await writeFile(join(uploads, `${dead}.tmpaaaaaaaa.tmp`), bytes(100));
    await writeFile(join(uploads, `${dead}.tmpbbbbbbbb.tmp`), bytes(200));
    await writeFile(join(uploads, `${live}.lock`), "");
    await writeFile(join(uploads, `${live}.tmpcccccccc.tmp`), bytes(300));
    holdLock(join(uploads, `${live}.lock`));
    await writeFile(join(uploads, `${gone}.tmpdddddddd.tmp`), bytes(400));
    // An owner that created its lock file and had not locked it yet when we looked: it finds it gone and picks another.
    await writeFile(join(uploads, "1111111111111111.lock"), "");

    const checker = new PosixFsBackend(base);
    await checker.open();
    await checker.close();
    expect(uploadsEntries(base)).toEqual([`${live}.lock`, `${live}.tmpcccccccc.tmp`]);

    // The check tells them apart the same way.
    await writeFile(join(uploads, `${dead}.lock`), "");
    await writeFile(join(uploads, `${dead}.tmpeeeeeeee.tmp`), bytes(50));
    const backend = new PosixFsBackend(base);
    await writeFile(join(uploads, `${gone}.tmpffffffff.tmp`), bytes(60));
    const report = await backend.checkFiles({ tempMaxAge: 0 });
    expect(report.findings).toEqual(
      expect.arrayContaining([
        { path: `uploads.hid/${dead}.tmpeeeeeeee.tmp`, size: 50, problem: "orphaned temp file", removed: false },
        { path: `uploads.hid/${gone}.tmpffffffff.tmp`, size: 60, problem: "orphaned temp file", removed: false },
        { path: `uploads.hid/${live}.tmpcccccccc.tmp`, size: 300, problem: "temp file in use", removed: false },
      ]),
    );
    expect(report.findings).toHaveLength(3);
    expect(uploadsEntries(base)).toHaveLength(5);
    await backend.checkFiles({ repair: true, tempMaxAge: 0 });
    expect(uploadsEntries(base)).toEqual([`${live}.lock`, `${live}.tmpcccccccc.tmp`]);
  });

  it("close while a streamed store is in flight: the store completes, then the lock file and the directory go", async () => {
    const base = await createdBase();
    const backend = new PosixFsBackend(base);
    await backend.open();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const storing = backend.storeStream("late", (async function* () {
      yield text("first ");
      await gate;
      yield text("last");
    })());
    await sleep(20);
    await backend.close();
    // A sweep now must not take the upload for an orphan.
    const other = new PosixFsBackend(base);
    await other.open();
    await other.close();
    expect(uploadsEntries(base).filter((n) => OWNED_TEMP.test(n))).toHaveLength(1);
    expect(uploadsEntries(base).filter((n) => OWNER_LOCK_NAME.test(n))).toHaveLength(1);
    release();
    await storing;
    expect(await readFile(join(base, "late"), "latin1")).toBe("first last");
    expect(existsSync(uploadsOf(base))).toBe(false);
  });

  it("sessions of this process opening (and sweeping) and closing while others store: no store fails, every value whole, nothing left", async () => {
    const base = await createdBase();
    const acked = new Set<string>();
    let storing = true;
    async function writer(w: number): Promise<void> {
      const backend = new PosixFsBackend({ path: base, syncWrites: w % 2 === 0 });
      await backend.open();
      for (let i = 0; storing || i < 20; i++) {
        const name = `w${w}/k${i}`;
        if (i % 3 === 2)
          await backend.storeStream(name, (async function* () {
            yield value(name).subarray(0, 500);
            await sleep(1);
            yield value(name).subarray(500);
          })());
        else await backend.store(name, value(name));
        acked.add(name);
      }
      await backend.close();
    }
    // A count of sessions, not a time window: on a loaded CI machine one second held only 5.
    async function churn(): Promise<number> {
      let opens = 0;
      for (; opens < 24; opens++) {
        const backend = new PosixFsBackend(base);
        await backend.open();
        if (opens % 2 === 0) await backend.store(`churn/k${opens % 7}`, value(`churn/k${opens % 7}`));
        await backend.close();
      }
      return opens;
    }
    const writers = [0, 1, 2, 3].map(writer);
    const opens = await Promise.all([churn(), churn()]);
    storing = false;
    await Promise.all(writers);
    for (let i = 0; i < 7; i++) acked.add(`churn/k${i}`);
    expect(opens).toEqual([24, 24]);
    await expectAckedWhole(base, acked);
    expect(existsSync(uploadsOf(base))).toBe(false);
  }, 30_000);

  it("sessions claiming owners (through the thread pool) while repair sweeps run: no store fails, nothing left", async () => {
    const base = await createdBase();
    const acked = new Set<string>();
    let sweeping = true;
    async function sweeps(): Promise<number> {
      const checker = new PosixFsBackend(base);
      let count = 0;
      for (; sweeping; count++) await checker.checkFiles({ repair: true, tempMaxAge: 0 });
      return count;
    }
    async function sessions(s: number): Promise<void> {
      for (let round = 0; round < 100; round++) {
        const backend = new PosixFsBackend({ path: base, syncWrites: false });
        await backend.open();
        await Promise.all(
          [0, 1, 2].map(async (i) => {
            const name = `c${s}/r${round}k${i}`;
            await backend.store(name, value(name));
            acked.add(name);
          }),
        );
        await backend.close();
      }
    }
    const sweepers = [sweeps(), sweeps()];
    await Promise.all([0, 1, 2].map(sessions));
    sweeping = false;
    expect(Math.min(...(await Promise.all(sweepers)))).toBeGreaterThan(5);
    expect(acked.size).toBe(3 * 100 * 3);
    await expectAckedWhole(base, acked);
    expect(uploadsEntries(base)).toEqual([]);
  }, 30_000);

  // A sweep that opens an owner's new lock file between its create and its flock: made to happen
  // by running one (open, flock, unlink, close; or open and flock, held a while) right after the
  // create, from a wrapper around node:fs's open/openSync.
  it.each([
    [true, "removes it"],
    [false, "removes it"],
    [true, "holds it"],
    [false, "holds it"],
  ])("an owner whose lock file a sweep took before it was locked claims another (syncWrites: %s, the sweep %s)", async (syncWrites, mode) => {
    const base = await createdBase();
    const backend = new PosixFsBackend({ path: base, syncWrites });
    await backend.open();
    const swept: string[] = [];
    let sweeper = -1;
    const sweepJustCreated = (path: unknown, flags: unknown) => {
      if (swept.length > 0 || typeof path !== "string" || !/\/uploads\.hid\/[0-9a-f]{16}\.lock$/.test(path)) return;
      if (typeof flags !== "number" || (flags & constants.O_CREAT) === 0) return;
      swept.push(path.slice(path.lastIndexOf("/") + 1));
      sweeper = openSync(path, constants.O_RDONLY);
      flockSync(sweeper, "exnb");
      if (mode === "removes it") {
        unlinkSync(path);
        closeSync(sweeper);
        sweeper = -1;
      }
    };
    const realOpen = fs.open;
    const realOpenSync = fs.openSync;
    fs.openSync = ((path: string, flags: number, mode?: number) => {
      const fd = realOpenSync(path, flags, mode);
      sweepJustCreated(path, flags);
      return fd;
    }) as typeof fs.openSync;
    fs.open = ((path: string, flags: number, mode: number, done: (err: NodeJS.ErrnoException | null, fd: number) => void) =>
      realOpen(path, flags, mode, (err, fd) => {
        if (!err) sweepJustCreated(path, flags);
        done(err, fd);
      })) as typeof fs.open;
    syncBuiltinESMExports();
    try {
      await backend.store("a", bytes(10));
    } finally {
      fs.open = realOpen;
      fs.openSync = realOpenSync;
      syncBuiltinESMExports();
    }
    expect(swept).toHaveLength(1);
    // The session holds a lock file that is still there, under another id than the swept one.
    const locks = uploadsEntries(base).filter((name) => OWNER_LOCK_NAME.test(name) && name !== swept[0]);
    expect(locks).toHaveLength(1);
    expect(locksHeldBy(process.pid, base)).toEqual(locks);
    // The owner that found its lock file held gave it up (unlinked it) and took another.
    expect(uploadsEntries(base)).not.toContain(swept[0]);
    if (sweeper >= 0) closeSync(sweeper);
    // A sweep now keeps the session's temp files.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const storing = backend.storeStream("b", (async function* () {
      yield text("b1");
      await gate;
      yield text("b2");
    })());
    await sleep(10);
    await new PosixFsBackend(base).checkFiles({ repair: true, tempMaxAge: 0 });
    release();
    await storing;
    expect(await readFile(join(base, "b"), "latin1")).toBe("b1b2");
    await backend.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
  });

  it("the sweep leaves a temp file that holds its own flock (quota.hid's) while held, and removes it once free", async () => {
    const base = await createdBase();
    const uploads = uploadsOf(base);
    await mkdir(uploads);
    await writeFile(join(uploads, "tmpquotaaaa.tmp"), bytes(3));
    holdLock(join(uploads, "tmpquotaaaa.tmp"));
    const backend = new PosixFsBackend(base);
    await backend.open();
    await backend.close();
    expect(uploadsEntries(base)).toEqual(["tmpquotaaaa.tmp"]);
    closeSync(held.pop() as number);
    await backend.open();
    await backend.close();
    expect(existsSync(uploads)).toBe(false);
  });
});
