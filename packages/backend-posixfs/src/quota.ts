import { lstat, open, readFile, readdir, unlink } from "node:fs/promises";
import { BackendMustBeOpen, QuotaExceeded } from "@borgstore/core";
import { TEMP_NAME } from "@borgstore/core/backend";
import { replaceFile } from "./atomic-file.js";
import { errnoOf, isMissing } from "./errors.js";
import { withFileLock } from "./file-lock.js";
import { QuotaJournal, type StaleJournals, collectStaleJournals, isJournalName } from "./quota-journal.js";
import { UPLOADS_DIR, Uploads } from "./uploads.js";

/** Name of the usage file below the base path (hidden: names ending in .hid are invalid). */
export const QUOTA_FILE = "quota.hid";
/** Persist once this many bytes of change are not on disk yet (docs/on-disk-format.md#bookkeeping-files). */
export const PERSIST_BYTES = 10_000_000;
/** … or once this many seconds passed since the last persist. */
export const PERSIST_SECONDS = 300;

/**
 * Bytes of every regular file below `dir`, symlinks not followed, but for our bookkeeping files
 * and temp files: a temp file's bytes are charged when it is renamed into place (by both
 * implementations), so counting them here would count them twice (the reference does).
 */
async function scanUsage(dir: string, root = dir): Promise<number> {
  let total = 0;
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return 0;
    throw err;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (dir === root && (entry.name === QUOTA_FILE || entry.name === UPLOADS_DIR || isJournalName(entry.name))) continue;
    if (TEMP_NAME.test(entry.name)) continue;
    if (entry.isDirectory()) total += await scanUsage(path, root);
    else if (entry.isFile()) total += await lstat(path).then((st) => st.size, () => 0);
  }
  return total;
}

/** The decimal integer a quota file holds, or undefined when its content is not one. */
function parseUsage(text: string): number | undefined {
  if (!/^\s*\d+\s*$/.test(text)) return undefined;
  const value = Number(text.trim());
  return Number.isSafeInteger(value) ? value : undefined;
}

const format = (usage: number): string => String(Math.max(0, Math.trunc(usage)));

/** Creates `path` empty unless it exists (whoever creates it, its content is invalid until written). */
async function createEmpty(path: string): Promise<void> {
  try {
    await (await open(path, "wx", 0o600)).close();
  } catch (err) {
    if (errnoOf(err) !== "EEXIST") throw err;
  }
}

/** quota.hid's value plus the records of dead sessions' journals, which are then deleted. */
async function withStaleJournals<T>(base: string, update: (stale: StaleJournals) => Promise<T>): Promise<T> {
  const stale = collectStaleJournals(base);
  try {
    const result = await update(stale);
    stale.discard();
    return result;
  } catch (err) {
    stale.release();
    throw err;
  }
}

/**
 * Tracks the bytes stored below a posixfs base path against a limit, persisted in quota.hid and
 * shared by every process using the store: a persist adds this session's unwritten delta to the
 * value on disk under an exclusive lock, then adopts the result. Until then the delta lives in
 * this session's journal (see QuotaJournal), so that a crash never loses it.
 */
export class QuotaTracker {
  readonly limit: number;
  #usage: number;
  #unpersisted = 0;
  /** The delta a persist in progress is writing to quota.hid: until it is there, the journal keeps it. */
  #persistingDelta = 0;
  #lastPersist = Date.now();
  #persisting: Promise<void> = Promise.resolve();
  /** After close(): its final persist is written, so a later change would never reach quota.hid. */
  #closed = false;
  /** Changes past the closed check whose delta is not final yet: close() waits for them. */
  #charging = 0;
  #allCharged: (() => void) | undefined;
  readonly #base: string;
  readonly #file: string;
  readonly #journal: QuotaJournal;

  private constructor(base: string, limit: number, usage: number, journal: QuotaJournal) {
    this.#base = base;
    this.#file = `${base}/${QUOTA_FILE}`;
    this.limit = limit;
    this.#usage = usage;
    this.#journal = journal;
  }

  get usage(): number {
    return this.#usage;
  }

  /**
   * Reads quota.hid under the lock, adds what dead sessions' journals hold (or rescans the store
   * when quota.hid is missing or invalid), writes the value back and starts this session's
   * journal. A missing file is first created empty (exclusively), so that the scan, too, runs
   * under the lock: processes opening at the same time then wait for one scan instead of
   * overwriting each other's later updates with their own scans (the reference scans unlocked).
   */
  static async open(base: string, limit: number): Promise<QuotaTracker> {
    const file = `${base}/${QUOTA_FILE}`;
    for (;;) {
      const opened = await withFileLock(file, () =>
        withStaleJournals(base, async (stale) => {
          const value = parseUsage((await readFile(file)).subarray(0, 100).toString("latin1"));
          // A rescan finds the bytes dead sessions wrote: their journals are then moot.
          const usage = value === undefined ? await scanUsage(base) : Math.max(0, value + stale.delta);
          await replaceFile(file, format(usage), true, new Uploads(base));
          return { usage, journal: QuotaJournal.create(base) };
        }),
      );
      if (opened !== undefined) return new QuotaTracker(base, limit, opened.usage, opened.journal);
      await createEmpty(file);
    }
  }

  /**
   * Deletes quota.hid, so that a later open with a quota rescans (docs/on-disk-format.md#bookkeeping-files); dead sessions'
   * journals go too, as that rescan will count their bytes. While a live quota session (one
   * holding its journal locked, such as a server) uses the store, both stay: that session keeps
   * tracking, and its next persist merges into quota.hid; a rescan in between would count the
   * bytes it deleted but has not persisted yet twice. Decided under the quota.hid lock, which
   * opens and persists take too.
   */
  static async forget(base: string): Promise<void> {
    const forgetUnlessLive = async (unlinkFile: boolean): Promise<void> => {
      const journals = collectStaleJournals(base);
      if (journals.live > 0) {
        journals.release();
        return;
      }
      try {
        if (unlinkFile) await unlink(`${base}/${QUOTA_FILE}`);
      } catch (err) {
        if (!isMissing(err)) {
          journals.release();
          throw err;
        }
      }
      journals.discard();
    };
    const done = await withFileLock(`${base}/${QUOTA_FILE}`, () => forgetUnlessLive(true).then(() => true));
    if (done === undefined) await forgetUnlessLive(false);
  }

  /**
   * Runs `write`, which changes the stored bytes by `delta`, and accounts for it. A growth is
   * checked and charged before the write (synchronously, so concurrent stores cannot both pass
   * the check for the last free bytes) and given back if the write fails; a shrink is credited
   * only after the write. Either way a crash at any moment leaves the journal counting at least
   * the bytes on disk, never fewer.
   */
  async charge<T>(delta: number, write: () => Promise<T>): Promise<T> {
    // A store or delete that reaches the tracker after close() began (core's close does not wait for it).
    if (this.#closed) throw new BackendMustBeOpen("posixfs store closed before this change was made: not made");
    this.#charging++;
    try {
      return await this.#chargeNow(delta, write);
    } finally {
      if (--this.#charging === 0) this.#allCharged?.();
    }
  }

  async #chargeNow<T>(delta: number, write: () => Promise<T>): Promise<T> {
    if (delta <= 0) {
      const result = await write();
      this.#add(delta);
      return result;
    }
    const wanted = this.#usage + delta;
    if (wanted > this.limit) throw new QuotaExceeded(`Quota exceeded: ${wanted} > ${this.limit}`);
    this.#add(delta);
    try {
      return await write();
    } catch (err) {
      this.#add(-delta);
      throw err;
    }
  }

  #add(delta: number): void {
    this.#usage += delta;
    this.#unpersisted += delta;
    this.#journal.record(this.#unpersisted + this.#persistingDelta);
  }

  /** Persists when enough changed or enough time passed. */
  async maybePersist(): Promise<void> {
    // close() persists what a change still charging when it began added.
    if (this.#closed) return;
    const due =
      Math.abs(this.#unpersisted) >= PERSIST_BYTES || (Date.now() - this.#lastPersist) / 1000 >= PERSIST_SECONDS;
    if (due) await this.persist();
  }

  /** Adds this session's unwritten delta to the value on disk and adopts the result. */
  persist(): Promise<void> {
    // After the previous persist, failed or not: its caller got its error, and its delta is back
    // in #unpersisted for this one to write (chaining on the rejection would fail every later
    // persist, the final one at close too, with that old error).
    const next = this.#persisting.catch(() => undefined).then(() => this.#persistNow());
    this.#persisting = next;
    return next;
  }

  /**
   * Refuses new changes, waits for those already charging (a shrink is counted only once its write
   * is done), then the final persist; then the journal goes (it stays, for the next open to count,
   * if the persist fails).
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#charging > 0) await new Promise<void>((resolve) => (this.#allCharged = resolve));
    try {
      await this.persist();
    } catch (err) {
      this.#journal.close();
      throw err;
    }
    this.#journal.remove();
  }

  async #persistNow(): Promise<void> {
    const delta = this.#unpersisted;
    this.#unpersisted = 0;
    this.#persistingDelta = delta;
    this.#lastPersist = Date.now();
    try {
      const merged = await withFileLock(this.#file, async () => {
        const onDisk = parseUsage((await readFile(this.#file)).subarray(0, 100).toString("latin1"));
        if (onDisk === undefined) {
          const merged = Math.max(0, this.#usage - this.#unpersisted);
          await replaceFile(this.#file, format(merged), true, new Uploads(this.#base));
          return merged;
        }
        return withStaleJournals(this.#base, async (stale) => {
          const merged = Math.max(0, onDisk + delta + stale.delta);
          await replaceFile(this.#file, format(merged), true, new Uploads(this.#base));
          return merged;
        });
      });
      const result = merged ?? Math.max(0, this.#usage - this.#unpersisted);
      if (merged === undefined) await replaceFile(this.#file, format(result), true, new Uploads(this.#base));
      // Deltas that arrived while we were writing stay unpersisted on top of the merged value.
      this.#usage = result + this.#unpersisted;
      this.#persistingDelta = 0;
      this.#journal.record(this.#unpersisted);
    } catch (err) {
      this.#persistingDelta = 0;
      this.#unpersisted += delta;
      throw err;
    }
  }
}
