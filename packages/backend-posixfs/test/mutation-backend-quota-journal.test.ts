import { closeSync, constants, mkdirSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { QuotaJournal, collectStaleJournals } from "../src/quota-journal.js";
import { openBelow, tempDir } from "./helpers.js";

// QuotaJournal and collectStaleJournals used directly (quota-journal.test.ts goes through a
// backend): what a journal holds on disk, its lock, what close/remove leave, and the stale
// journals' descriptors and failures, with real files and real flocks.

const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as { flockSync: (fd: number, flags: string) => void };
const record = (text: string) => text.padEnd(24, " ");
const journalsIn = (base: string) => readdirSync(base).filter((n) => n.startsWith("quota-session-")).sort();
const held: number[] = [];
afterEach(() => {
  for (const fd of held.splice(0)) closeSync(fd);
});

/** Whether someone (another open file description, of this process too) holds `path`'s flock. */
function isLocked(path: string): boolean {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    flockSync(fd, "exnb");
    return false;
  } catch (err) {
    expect((err as { code?: string }).code).toMatch(/^(EAGAIN|EWOULDBLOCK)$/);
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Holds `path`'s flock until the test ends, as a live session does. */
function holdLock(path: string): void {
  const fd = openSync(path, constants.O_RDWR);
  held.push(fd);
  flockSync(fd, "exnb");
}

function onlyJournal(base: string): string {
  const names = journalsIn(base);
  expect(names).toHaveLength(1);
  expect(names[0]).toMatch(/^quota-session-[a-z0-9_]{12}\.hid$/);
  return join(base, names[0] as string);
}

describe("posixfs QuotaJournal", () => {
  it("create writes a record of 0 (24 bytes) and holds the journal locked", () => {
    const base = tempDir();
    const journal = QuotaJournal.create(base);
    const path = onlyJournal(base);
    expect(readFileSync(path, "latin1")).toBe(record("0"));
    expect(isLocked(path)).toBe(true);
    journal.remove();
  });

  it("create fails with the OS error when the base is missing (instead of trying other names forever)", () => {
    expect(() => QuotaJournal.create(join(tempDir(), "missing"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });

  it("record overwrites the whole previous record, truncated to an integer", () => {
    const base = tempDir();
    const journal = QuotaJournal.create(base);
    const path = onlyJournal(base);
    journal.record(123456789012);
    expect(readFileSync(path, "latin1")).toBe(record("123456789012"));
    journal.record(-7.9);
    expect(readFileSync(path, "latin1")).toBe(record("-7"));
    journal.record(42.5);
    expect(readFileSync(path, "latin1")).toBe(record("42"));
    journal.remove();
  });

  it("close lets go of the lock and leaves the file; record, close and remove after it do nothing", () => {
    const base = tempDir();
    const journal = QuotaJournal.create(base);
    const path = onlyJournal(base);
    journal.record(55);
    journal.close();
    expect(isLocked(path)).toBe(false);
    expect(openBelow(base)).toEqual([]);
    journal.record(99);
    journal.close();
    journal.remove();
    expect(readFileSync(path, "latin1")).toBe(record("55"));
    expect(journalsIn(base)).toHaveLength(1);
  });

  it("remove deletes the file and closes its descriptor; record, remove and close after it do nothing", () => {
    const base = tempDir();
    const journal = QuotaJournal.create(base);
    onlyJournal(base);
    journal.remove();
    expect(journalsIn(base)).toEqual([]);
    expect(openBelow(base)).toEqual([]);
    journal.record(5);
    journal.remove();
    journal.close();
    expect(readdirSync(base)).toEqual([]);
  });
});

describe("posixfs collectStaleJournals", () => {
  it("sums dead sessions' records, counts live ones apart, and holds the dead ones locked until discard deletes them", () => {
    const base = tempDir();
    writeFileSync(join(base, "quota-session-deadsession1.hid"), record("250"));
    writeFileSync(join(base, "quota-session-deadsession2.hid"), record("-30"));
    // A record shorter than 24 bytes (the reference never writes journals; a hand-made one).
    writeFileSync(join(base, "quota-session-deadsession3.hid"), "17");
    writeFileSync(join(base, "quota-session-livesession1.hid"), record("400"));
    holdLock(join(base, "quota-session-livesession1.hid"));
    writeFileSync(join(base, "quota-session-short.hid"), record("1000"));
    const stale = collectStaleJournals(base);
    expect({ delta: stale.delta, count: stale.count, live: stale.live }).toEqual({ delta: 237, count: 3, live: 1 });
    expect(isLocked(join(base, "quota-session-deadsession1.hid"))).toBe(true);
    expect(openBelow(base)).toHaveLength(4); // three dead journals and the live one's holder
    stale.discard();
    expect(journalsIn(base)).toEqual(["quota-session-livesession1.hid", "quota-session-short.hid"]);
    expect(openBelow(base)).toHaveLength(1);
    stale.discard(); // nothing left to discard: no second unlink or close
    stale.release();
    expect(openBelow(base)).toHaveLength(1);
  });

  it("release lets go of them without deleting; the next collect finds them again", () => {
    const base = tempDir();
    writeFileSync(join(base, "quota-session-deadsession1.hid"), record("8"));
    writeFileSync(join(base, "quota-session-deadsession2.hid"), record("9"));
    const stale = collectStaleJournals(base);
    expect(stale.count).toBe(2);
    stale.release();
    expect(openBelow(base)).toEqual([]);
    expect(isLocked(join(base, "quota-session-deadsession1.hid"))).toBe(false);
    stale.release();
    const again = collectStaleJournals(base);
    expect({ delta: again.delta, count: again.count }).toEqual({ delta: 17, count: 2 });
    again.discard();
    expect(journalsIn(base)).toEqual([]);
  });

  it("a missing base or one that is a file holds no journals; a looping base is an error", () => {
    const dir = tempDir();
    expect(collectStaleJournals(join(dir, "missing")).count).toBe(0);
    writeFileSync(join(dir, "file"), "x");
    const inFile = collectStaleJournals(join(dir, "file"));
    expect({ delta: inFile.delta, count: inFile.count, live: inFile.live }).toEqual({ delta: 0, count: 0, live: 0 });
    symlinkSync(join(dir, "loop"), join(dir, "loop"));
    expect(() => collectStaleJournals(join(dir, "loop"))).toThrow(expect.objectContaining({ code: "ELOOP" }));
  });

  it("skips a journal name that leads nowhere (dangling symlink); one that cannot be opened is an error", () => {
    const base = tempDir();
    writeFileSync(join(base, "quota-session-deadsession1.hid"), record("5"));
    symlinkSync(join(base, "nowhere"), join(base, "quota-session-dangling0001.hid"));
    const stale = collectStaleJournals(base);
    expect({ delta: stale.delta, count: stale.count }).toEqual({ delta: 5, count: 1 });
    stale.release();
    mkdirSync(join(base, "quota-session-directory001.hid"));
    expect(() => collectStaleJournals(base)).toThrow(expect.objectContaining({ code: "EISDIR" }));
    expect(openBelow(base)).toEqual([]);
  });

  it("discard passes over a journal someone else deleted meanwhile and still closes every descriptor", () => {
    const base = tempDir();
    writeFileSync(join(base, "quota-session-deadsession1.hid"), record("1"));
    writeFileSync(join(base, "quota-session-deadsession2.hid"), record("2"));
    const stale = collectStaleJournals(base);
    unlinkSync(join(base, "quota-session-deadsession1.hid"));
    stale.discard();
    expect(journalsIn(base)).toEqual([]);
    expect(openBelow(base)).toEqual([]);
  });

  it("discard that cannot delete a journal throws its error; release then closes what is left, each descriptor once", () => {
    const base = tempDir();
    writeFileSync(join(base, "quota-session-deadsession1.hid"), record("1"));
    writeFileSync(join(base, "quota-session-deadsession2.hid"), record("2"));
    const stale = collectStaleJournals(base);
    // The first journal's name now names a directory: its unlink fails with EISDIR.
    rmSync(join(base, "quota-session-deadsession1.hid"));
    mkdirSync(join(base, "quota-session-deadsession1.hid"));
    expect(() => stale.discard()).toThrow(expect.objectContaining({ code: "EISDIR" }));
    expect(() => stale.release()).not.toThrow();
    expect(openBelow(base)).toEqual([]);
    expect(journalsIn(base)).toEqual(["quota-session-deadsession1.hid", "quota-session-deadsession2.hid"]);
  });
});
