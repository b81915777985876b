import { closeSync, constants, fstatSync, openSync, readSync, readdirSync, unlinkSync, writeSync } from "node:fs";
import { randomSuffix } from "@borgstore/core/backend";
import { errnoOf, isMissing } from "./errors.js";
import { tryLockFd } from "./file-lock.js";

/**
 * `quota-session-<random>.hid`: hidden from both implementations' list (the .hid suffix) and
 * ignored by the reference, whose quota scan merely counts its few bytes.
 */
const JOURNAL_NAME = /^quota-session-[a-z0-9_]{12}\.hid$/;
/** Signed decimal, space padded: every record overwrites the whole previous one. */
const RECORD_WIDTH = 24;

const encodeRecord = (delta: number): Buffer => Buffer.from(String(Math.trunc(delta)).padEnd(RECORD_WIDTH, " "), "latin1");

function decodeRecord(bytes: Buffer): number {
  const text = bytes.toString("latin1").trim();
  const value = Number(text);
  return /^-?\d+$/.test(text) && Number.isSafeInteger(value) ? value : 0;
}

export const isJournalName = (name: string): boolean => JOURNAL_NAME.test(name);

/**
 * The bytes one quota session has charged but not yet added to quota.hid, in a file of its own
 * that the session holds an exclusive flock on while it lives. quota.hid is written rarely (every
 * 10 MB / 300 s / close, as the reference does); without this record a SIGKILL would forget up to
 * 10 MB per crash, and repeated crashes would let a store grow past its quota without bound. The
 * kernel drops the flock of a killed process, so an unlocked journal is a dead session's, and
 * whoever next holds the quota.hid lock adds its record to quota.hid.
 *
 * Records are plain write(2)s without fsync: they survive the death of the process (the page
 * cache does), not a crash of the machine, just as stores without `fsync` do.
 */
export class QuotaJournal {
  #fd: number;
  readonly #path: string;

  private constructor(path: string, fd: number) {
    this.#path = path;
    this.#fd = fd;
  }

  /** Creates and locks this session's journal; call while holding the quota.hid lock. */
  static create(base: string): QuotaJournal {
    for (;;) {
      const path = `${base}/quota-session-${randomSuffix(12)}.hid`;
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
      } catch (err) {
        if (errnoOf(err) === "EEXIST") continue;
        throw err;
      }
      if (!tryLockFd(fd)) {
        closeSync(fd);
        unlinkSync(path);
        continue;
      }
      const journal = new QuotaJournal(path, fd);
      journal.record(0);
      return journal;
    }
  }

  /** Overwrites the record: `delta` bytes charged by this session and not yet in quota.hid. */
  record(delta: number): void {
    if (this.#fd >= 0) writeSync(this.#fd, encodeRecord(delta), 0, RECORD_WIDTH, 0);
  }

  /** Lets go of the journal but leaves it for the next open to count (the final persist failed). */
  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Removes the journal at a clean close (after the final persist). */
  remove(): void {
    if (this.#fd < 0) return;
    // Unlinked before the close releases the lock, so no one ever sees it unlocked.
    unlinkSync(this.#path);
    closeSync(this.#fd);
    this.#fd = -1;
  }
}

/** Journals of dead sessions, locked by us until `discard`; call while holding the quota.hid lock. */
export interface StaleJournals {
  /** Sum of their records. */
  readonly delta: number;
  readonly count: number;
  /** Journals that live sessions hold locked (of this process or another). */
  readonly live: number;
  /** Deletes them (after their delta is in quota.hid, or was made moot by a rescan). */
  discard(): void;
  /** Lets go of them without deleting (the quota.hid update failed). */
  release(): void;
}

export function collectStaleJournals(base: string): StaleJournals {
  const held: Array<{ path: string; fd: number }> = [];
  let delta = 0;
  let live = 0;
  let names: string[];
  try {
    names = readdirSync(base).filter(isJournalName);
  } catch (err) {
    if (!isMissing(err)) throw err;
    names = [];
  }
  try {
    for (const name of names) {
      const path = `${base}/${name}`;
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDWR);
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      // Unlocked and still linked: its session died (a clean close unlinks before unlocking).
      if (!tryLockFd(fd)) {
        if (fstatSync(fd).nlink > 0) live++;
        closeSync(fd);
        continue;
      }
      if (fstatSync(fd).nlink === 0) {
        closeSync(fd);
        continue;
      }
      held.push({ path, fd });
      const bytes = Buffer.alloc(RECORD_WIDTH);
      const got = readSync(fd, bytes, 0, RECORD_WIDTH, 0);
      delta += decodeRecord(bytes.subarray(0, got));
    }
  } catch (err) {
    // Those already locked would otherwise stay open, and locked: live to every later collect.
    for (const { fd } of held.splice(0)) closeSync(fd);
    throw err;
  }
  return {
    delta,
    count: held.length,
    live,
    discard() {
      // Taken off one at a time: after a failed unlink, release() closes only the ones left.
      for (let next = held.shift(); next !== undefined; next = held.shift()) {
        try {
          unlinkSync(next.path);
        } catch (err) {
          if (!isMissing(err)) throw err;
        } finally {
          closeSync(next.fd);
        }
      }
    },
    release() {
      for (const { fd } of held.splice(0)) closeSync(fd);
    },
  };
}
