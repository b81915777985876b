import { lstat, open, readFile, readdir, unlink } from "node:fs/promises";
import { QuotaExceeded } from "@borgstore/core";
import { replaceFile } from "./atomic-file.js";
import { errnoOf, isMissing } from "./errors.js";
import { withFileLock } from "./file-lock.js";

/** Name of the usage file below the base path (hidden: names ending in .hid are invalid). */
export const QUOTA_FILE = "quota.hid";
/** Persist once this many bytes of change are not on disk yet (spec §11.1). */
export const PERSIST_BYTES = 10_000_000;
/** … or once this many seconds passed since the last persist. */
export const PERSIST_SECONDS = 300;

/** Bytes of every regular file below `dir`, symlinks not followed; `skip` is left out. */
async function scanUsage(dir: string, skip?: string): Promise<number> {
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
    if (path === skip) continue;
    if (entry.isDirectory()) total += await scanUsage(path);
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

/**
 * Tracks the bytes stored below a posixfs base path against a limit, persisted in quota.hid and
 * shared by every process using the store: a persist adds this session's unwritten delta to the
 * value on disk under an exclusive lock, then adopts the result.
 */
export class QuotaTracker {
  readonly limit: number;
  #usage: number;
  #unpersisted = 0;
  #lastPersist = Date.now();
  #persisting: Promise<void> = Promise.resolve();
  readonly #file: string;

  private constructor(file: string, limit: number, usage: number) {
    this.#file = file;
    this.limit = limit;
    this.#usage = usage;
  }

  get usage(): number {
    return this.#usage;
  }

  /**
   * Reads quota.hid under the lock, rescanning the store when it is missing or invalid, and writes
   * the value back. A missing file is first created empty (exclusively), so that the scan, too,
   * runs under the lock: processes opening at the same time then wait for one scan instead of
   * overwriting each other's later updates with their own scans (the reference scans unlocked).
   */
  static async open(base: string, limit: number): Promise<QuotaTracker> {
    const file = `${base}/${QUOTA_FILE}`;
    for (;;) {
      const usage = await withFileLock(file, async () => {
        const value = parseUsage((await readFile(file)).subarray(0, 100).toString("latin1"));
        const usage = value ?? (await scanUsage(base, file));
        await replaceFile(file, format(usage), true);
        return usage;
      });
      if (usage !== undefined) return new QuotaTracker(file, limit, usage);
      await createEmpty(file);
    }
  }

  /** Deletes quota.hid, so that a later open with a quota rescans (spec §11.1). */
  static async forget(base: string): Promise<void> {
    await unlink(`${base}/${QUOTA_FILE}`).catch((err) => {
      if (!isMissing(err)) throw err;
    });
  }

  /**
   * Takes `delta` bytes from the quota, or throws QuotaExceeded. Synchronous, so concurrent
   * stores in this process cannot both pass the check for the last free bytes.
   */
  reserve(delta: number): void {
    const wanted = this.#usage + delta;
    if (wanted > this.limit) throw new QuotaExceeded(`Quota exceeded: ${wanted} > ${this.limit}`);
    this.adjust(delta);
  }

  /** Records a change that needs no check: a delete, or giving back a reservation not used. */
  adjust(delta: number): void {
    this.#usage += delta;
    this.#unpersisted += delta;
  }

  /** Persists when enough changed or enough time passed. */
  async maybePersist(): Promise<void> {
    const due =
      Math.abs(this.#unpersisted) >= PERSIST_BYTES || (Date.now() - this.#lastPersist) / 1000 >= PERSIST_SECONDS;
    if (due) await this.persist();
  }

  /** Adds this session's unwritten delta to the value on disk and adopts the result. */
  persist(): Promise<void> {
    this.#persisting = this.#persisting.then(() => this.#persistNow());
    return this.#persisting;
  }

  async #persistNow(): Promise<void> {
    const delta = this.#unpersisted;
    this.#unpersisted = 0;
    this.#lastPersist = Date.now();
    try {
      const merged = await withFileLock(this.#file, async () => {
        const onDisk = parseUsage((await readFile(this.#file)).subarray(0, 100).toString("latin1"));
        const merged = Math.max(0, (onDisk ?? this.#usage - this.#unpersisted - delta) + delta);
        await replaceFile(this.#file, format(merged), true);
        return merged;
      });
      const result = merged ?? Math.max(0, this.#usage - this.#unpersisted);
      if (merged === undefined) await replaceFile(this.#file, format(result), true);
      // Deltas that arrived while we were writing stay unpersisted on top of the merged value.
      this.#usage = result + this.#unpersisted;
    } catch (err) {
      this.#unpersisted += delta;
      throw err;
    }
  }
}
