import { type Stats, closeSync, openSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { mkdir, open, readdir, rm, rmdir, stat } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import {
  Backend,
  BackendAlreadyExists,
  BackendDoesNotExist,
  BackendError,
  BackendMustBeOpen,
  type BackendCapabilities,
  type BackendOptions,
  type BufferLoadOptions,
  type ByteSource,
  InvalidArgument,
  type ItemInfo,
  type LoadOptions,
  type OperationOptions,
  type QuotaInfo,
  isValidName,
  type SizedByteSource,
} from "@borgstore/core";
import { isWholeValue, resolveRange, sizedBytes, sizedSource, KeyedQueue, basename } from "@borgstore/core/backend";
import {
  abandon,
  publish,
  publishOnThisThread,
  replaceFileWritingInPool,
  replaceSmallFileSync,
  streamToTemp,
  writeTemp,
} from "./atomic-file.js";
import { errnoOf, isMissing, toBackendError } from "./errors.js";
import { FileChunks } from "./file-chunks.js";
import { type FileCheckOptions, type FileCheckReport, checkFiles } from "./file-check.js";
import { closeQuietly, openFile, pathStats, renamePath, unlinkPath } from "./fs-calls.js";
import { SyncTurns } from "./sync-turns.js";
import { hashFile } from "./hash-file.js";
import { assertNotDirectory, readRange, readWhole } from "./reads.js";
import { QuotaTracker } from "./quota.js";
import { Uploads } from "./uploads.js";

/** Options of `new PosixFsBackend(...)`. */
export interface PosixFsOptions extends BackendOptions {
  /** Absolute path of the store's base directory. */
  path: string;
  /** Byte limit on the sum of all stored files, tracked in `<path>/quota.hid`. Absent = no quota. */
  quota?: number;
  /** fsync each written file and its directory before a store returns (default false: much faster). */
  fsync?: boolean;
  /**
   * Run info, list and the first 64 KiB of each load as synchronous calls on the main thread
   * (default true): on a local filesystem they take microseconds, less than a thread-pool round
   * trip. Set false where a stat or read may wait long (network filesystems, spinning disks under
   * load), so that the event loop never waits on storage. One call in 256 made on this thread
   * waits a turn of the event loop first, so that a loop of them never starves timers and I/O.
   */
  syncReads?: boolean;
  /**
   * Store values up to 64 KiB (without `fsync`) as synchronous create, write, close and rename
   * calls on the main thread (default true): four thread-pool round trips cost several times the
   * work (measured: 1 KiB stores one at a time 4,600/s through the pool, 18,000-29,000/s directly,
   * as fast as the Python reference). Set false where a write may wait long (network filesystems,
   * a disk under heavy writeback), so that the event loop never waits on storage. Larger values then
   * only write in the thread pool, whole or streamed (their temp file's create, close and rename stay synchronous).
   * Deletes (without a quota) are one synchronous unlink, except while other deletes are in flight:
   * those run in the thread pool, several at once. One call in 256 made on this thread waits a
   * turn of the event loop first, so that a loop of them never starves timers and I/O.
   */
  syncWrites?: boolean;
}

/** Entries a list stats at a time (between two turns of the event loop when synchronous). */
const LIST_BATCH = 256;
/** Largest value `syncWrites` stores with synchronous calls. */
const SYNC_WRITE_LIMIT = 64 * 1024;
/** Read size for streaming loads. */
const READ_CHUNK = 1024 * 1024;

function itemFromStats(name: string, st: Stats): ItemInfo {
  const directory = st.isDirectory();
  return { name, exists: true, size: st.size, directory, atime: st.atimeMs / 1000 };
}

/** Values leave as plain Uint8Array views of Node's Buffers (no copy), as the contract's type says. */
function plain(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * A store in a local directory, in the Python reference's on-disk format (docs/on-disk-format.md#posixfs-layout): each name is
 * a file path below the base directory holding exactly the value's bytes, written to a 0600 temp
 * file in the same directory and renamed into place.
 */
export class PosixFsBackend extends Backend {
  readonly capabilities: BackendCapabilities = {
    atime: true,
    quota: true,
    directories: true,
    streaming: true,
    gathersChunks: true,
    // Hashes are core's default: the file streamed through the hasher in this process.
    serverSideHash: [],
  };
  /** Absolute path of the base directory, without trailing slashes. */
  readonly base: string;
  /** The byte quota, or undefined without one. */
  readonly quotaLimit: number | undefined;
  /** Whether writes are fsynced before a store returns. */
  readonly fsync: boolean;
  /** Whether small reads use synchronous calls (see PosixFsOptions.syncReads). */
  readonly syncReads: boolean;
  /** Whether small writes use synchronous calls (see PosixFsOptions.syncWrites). */
  readonly syncWrites: boolean;
  #quota: QuotaTracker | undefined;
  readonly #uploads: Uploads;
  /** With a quota, stores, deletes and moves of one name take turns, so each sees the size the other left. */
  readonly #accounting = new KeyedQueue();
  /** Calls made on the spot wait a turn of the event loop now and then (see SyncTurns). */
  readonly #syncTurns = new SyncTurns();
  /** Deletes under way; a synchronous one counts until the microtask after it (see #unlink). */
  #deletesInFlight = 0;
  readonly #deleteEnded = () => {
    this.#deletesInFlight--;
  };

  constructor(pathOrOptions: string | PosixFsOptions, options: Omit<PosixFsOptions, "path"> = {}) {
    const all = typeof pathOrOptions === "string" ? { ...options, path: pathOrOptions } : pathOrOptions;
    super(all);
    if (typeof all.path !== "string" || !isAbsolute(all.path))
      throw new BackendError(`path must be an absolute path: ${all.path}`);
    if (all.quota !== undefined && all.quota !== null && !(Number.isSafeInteger(all.quota) && all.quota >= 0))
      throw new InvalidArgument(`quota must be a non-negative integer number of bytes, but got: ${all.quota}`);
    this.base = all.path.length > 1 ? all.path.replace(/\/+$/, "") : all.path;
    this.quotaLimit = all.quota ?? undefined;
    this.fsync = all.fsync ?? false;
    this.syncReads = all.syncReads ?? true;
    this.syncWrites = all.syncWrites ?? true;
    this.#uploads = new Uploads(this.base);
  }

  override get location(): string {
    return this.base;
  }

  #path(name: string): string {
    return name === "" ? this.base : `${this.base}/${name}`;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Makes the base directory (and parents); BackendAlreadyExists if it exists and is not empty. */
  protected async _create(): Promise<void> {
    try {
      await mkdir(this.base, { recursive: true });
      const contents = await readdir(this.base);
      if (contents.length > 0) throw new BackendAlreadyExists(`posixfs storage base path is not empty: ${this.base}`);
    } catch (err) {
      throw toBackendError(err);
    }
  }

  /** Removes the base directory with everything in it; BackendDoesNotExist if missing. */
  protected async _destroy(): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.base);
    } catch (err) {
      if (isMissing(err))
        throw new BackendDoesNotExist(`posixfs storage base path does not exist: ${this.base}`, { cause: err });
      throw toBackendError(err);
    }
    try {
      for (const entry of entries) await rm(`${this.base}/${entry}`, { recursive: true, force: true });
    } catch (err) {
      throw toBackendError(err);
    }
    // create() accepts an existing empty base directory, so one we may not remove can stay.
    await rmdir(this.base).catch(() => undefined);
  }

  /** Checks the base directory exists, removes uploads a killed writer left, and starts the quota bookkeeping (without a quota: drops it). */
  protected async _open(): Promise<void> {
    let st: Stats | undefined;
    try {
      st = await stat(this.base);
    } catch {
      st = undefined;
    }
    if (!st?.isDirectory())
      throw new BackendDoesNotExist(`posixfs storage base path does not exist or is not a directory: ${this.base}`);
    try {
      await this.#sweepUploads();
      this.#uploads.open();
      if (this.quotaLimit === undefined) await QuotaTracker.forget(this.base);
      else this.#quota = await QuotaTracker.open(this.base, this.quotaLimit);
    } catch (err) {
      await this.#uploads.close();
      throw toBackendError(err);
    }
  }

  /** Removes uploads a killed writer left (see Uploads); a store we may not write to is left alone. */
  async #sweepUploads(): Promise<void> {
    try {
      await this.#uploads.sweep();
    } catch (err) {
      const code = errnoOf(err);
      if (code !== "EACCES" && code !== "EPERM" && code !== "EROFS") throw err;
    }
  }

  /** Writes back and releases the quota bookkeeping. */
  protected async _close(): Promise<void> {
    const quota = this.#quota;
    this.#quota = undefined;
    try {
      if (quota) await quota.close().catch((err) => Promise.reject(toBackendError(err)));
    } finally {
      await this.#uploads.close();
    }
  }

  /**
   * The open session's quota tracker. With a quota, a change reaching the backend after close()
   * (core's close does not wait for the changes on their way) would never be counted in quota.hid:
   * it is refused, as the tracker refuses one reaching it after close() began (one already
   * charging then is waited for, so that its change is counted).
   */
  #sessionQuota(): QuotaTracker | undefined {
    if (this.#quota === undefined && this.quotaLimit !== undefined)
      throw new BackendMustBeOpen("posixfs store closed before this change was made: not made");
    return this.#quota;
  }

  /** The configured quota and the bytes stored, or -1 each without a quota. */
  protected override async _quota(): Promise<QuotaInfo> {
    return this.#quota ? { limit: this.#quota.limit, usage: this.#quota.usage } : { limit: -1, usage: -1 };
  }

  /**
   * Writes this session's quota changes to quota.hid now (merged with other sessions' under the
   * lock) instead of waiting for 10 MB, 300 s or close. No-op without a quota.
   */
  async persistQuota(): Promise<void> {
    if (this.#quota) await this.#quota.persist().catch((err) => Promise.reject(toBackendError(err)));
  }

  /**
   * Walks the store's files for what a list cannot show (`borgstore check`): temp files, removing
   * the orphaned ones with `repair`, and files no implementation would write.
   */
  async checkFiles(options?: FileCheckOptions): Promise<FileCheckReport> {
    try {
      return await checkFiles(this.base, options);
    } catch (err) {
      throw toBackendError(err);
    }
  }

  // ---- directories ------------------------------------------------------------------------

  /** Makes directory `name` and its missing parents. */
  protected async _mkdir(name: string): Promise<void> {
    try {
      await mkdir(this.#path(name), { recursive: true });
    } catch (err) {
      throw toBackendError(err);
    }
  }

  /** Removes the empty directory `name`. */
  protected async _rmdir(name: string): Promise<void> {
    try {
      await rmdir(this.#path(name));
    } catch (err) {
      throw toBackendError(err, errnoOf(err) === "ENOENT" ? name : undefined);
    }
  }

  // ---- items ------------------------------------------------------------------------------

  protected async _info(name: string): Promise<ItemInfo> {
    const path = this.#path(name);
    let st: Stats | undefined;
    const turn = this.syncReads ? this.#syncTurns.take() : undefined;
    if (turn) await turn;
    try {
      st = this.syncReads ? statSync(path, { throwIfNoEntry: false }) : await pathStats(path);
    } catch (err) {
      if (!isMissing(err)) throw toBackendError(err);
    }
    return st
      ? itemFromStats(basename(name), st)
      : { name: basename(name), exists: false, size: 0, directory: false, atime: 0 };
  }

  protected _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    return this.#readingFile(name, (fd, sync) => {
      const data = isWholeValue(options) ? readWhole(fd, sync, options.into) : readRange(fd, options, sync);
      return data instanceof Promise ? data.then(plain) : plain(data);
    });
  }

  protected override async _hash(name: string, algorithm: string, options: OperationOptions = {}): Promise<string> {
    return this.#readingFile(name, (fd, sync) => hashFile(fd, algorithm, sync, options.signal));
  }

  /**
   * Opens `name` for reading (on the calling thread with `syncReads`), runs `read` on the
   * descriptor and closes it: a missing file is ObjectNotFound, any other failure a BackendError.
   */
  async #readingFile<T>(name: string, read: (fd: number, sync: boolean) => T | Promise<T>): Promise<T> {
    const path = this.#path(name);
    const sync = this.syncReads;
    const turn = sync ? this.#syncTurns.take() : undefined;
    if (turn) await turn;
    let fd: number;
    try {
      fd = sync ? openSync(path, "r") : await openFile(path, "r");
    } catch (err) {
      throw toBackendError(err, name);
    }
    try {
      // A read done on the spot is not awaited: each await of a small load's layers cost a turn.
      const result = read(fd, sync);
      return result instanceof Promise ? await result : result;
    } catch (err) {
      throw toBackendError(err);
    } finally {
      if (sync) closeSync(fd);
      else closeQuietly(fd);
    }
  }

  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    let handle: import("node:fs/promises").FileHandle;
    let range: { start: number; end: number };
    let total: number;
    try {
      handle = await open(this.#path(name), "r");
    } catch (err) {
      throw toBackendError(err, name);
    }
    try {
      // The opened file's size: a store meanwhile renames a new file over the name, not into this one.
      const stats = await handle.stat();
      assertNotDirectory(stats);
      total = stats.size;
      range = resolveRange(options, total);
    } catch (err) {
      await handle.close();
      throw toBackendError(err);
    }
    if (range.end <= range.start) {
      await handle.close();
      return sizedBytes(new Uint8Array(0), total);
    }
    // `end` of a read stream is inclusive.
    const stream = handle.createReadStream({ start: range.start, end: range.end - 1, highWaterMark: READ_CHUNK, autoClose: true });
    return sizedSource(new FileChunks(stream), range.end - range.start, total);
  }

  protected async _store(name: string, value: Uint8Array): Promise<void> {
    const path = this.#path(name);
    const quota = this.#sessionQuota();
    try {
      if (!quota) {
        await this.#replace(path, value);
        return;
      }
      // Checked before writing, so a refused value costs no disk writes.
      await this.#accounting.run(path, async () => {
        const delta = value.byteLength - (await this.#sizeOf(path));
        await quota.charge(delta, () => this.#replace(path, value));
      });
      await quota.maybePersist();
    } catch (err) {
      throw toBackendError(err);
    }
  }

  protected override async _storeStream(name: string, source: ByteSource): Promise<void> {
    const path = this.#path(name);
    const quota = this.#sessionQuota();
    try {
      // The size is known only once the source is consumed: the quota is checked before the rename.
      // Without fsync, creating and renaming the temp file are quick calls made on this thread
      // (see `syncWrites`): five thread-pool round trips fewer per upload.
      const onThisThread = this.syncWrites && !this.fsync;
      const temp = await streamToTemp(path, source, this.fsync, this.#uploads, onThisThread);
      if (!quota) {
        if (onThisThread) await publishOnThisThread(temp, path);
        else await publish(temp, path, this.fsync);
        return;
      }
      await this.#accounting.run(path, async () => {
        let published = false;
        try {
          const delta = temp.size - (await this.#sizeOf(path));
          await quota.charge(delta, () => {
            published = true;
            return publish(temp, path, this.fsync);
          });
        } catch (err) {
          // publish removes the temp file itself when it fails.
          if (!published) await abandon(temp);
          throw err;
        }
      });
      await quota.maybePersist();
    } catch (err) {
      throw toBackendError(err);
    }
  }

  /** Unlinks the file of `name` (and takes its size off the quota usage). */
  protected async _delete(name: string): Promise<void> {
    const path = this.#path(name);
    const quota = this.#sessionQuota();
    try {
      if (!quota) {
        await (this.syncWrites ? this.#unlink(path) : unlinkPath(path));
        return;
      }
      await this.#accounting.run(path, async () => {
        const size = (await pathStats(path)).size;
        await quota.charge(-size, () => unlinkPath(path));
      });
      await quota.maybePersist();
    } catch (err) {
      throw toBackendError(err, name);
    }
  }

  /**
   * Unlinks `path` on this thread when no other delete is under way: a thread-pool round trip
   * costs more than the call (a lone 1 KiB delete ran at a third of the rate through the pool).
   * With others in flight it goes to the pool, where unlinks run side by side: one after another
   * on this thread, 16 concurrent deletes (1 KiB to 4 MiB, tmpfs, an idle 2-core machine) lost a
   * fifth to a half of their throughput against the pool's.
   */
  async #unlink(path: string): Promise<void> {
    this.#deletesInFlight++;
    if (this.#deletesInFlight > 1) return unlinkPath(path).finally(this.#deleteEnded);
    try {
      const turn = this.#syncTurns.take();
      if (turn) await turn;
      unlinkSync(path);
    } finally {
      // Deletes started by the same caller before this one's result reaches it still see it in flight.
      queueMicrotask(this.#deleteEnded);
    }
  }

  protected async _move(currentName: string, newName: string): Promise<void> {
    const from = this.#path(currentName);
    const to = this.#path(newName);
    const quota = this.#sessionQuota();
    if (!quota) {
      await this.#rename(from, to, currentName);
      return;
    }
    try {
      // Both names take turns with stores and deletes of them: a store of the source must not
      // count the old size the move took away, nor one of the target the size the move replaces.
      await this.#accounting.runAll([from, to], async () => {
        const replaced = from === to ? 0 : await this.#sizeOf(to);
        await quota.charge(-replaced, () => this.#rename(from, to, currentName));
      });
      await quota.maybePersist();
    } catch (err) {
      throw toBackendError(err);
    }
  }

  /** Renames, creating the target's missing parent directories when the first attempt finds none. */
  async #rename(from: string, to: string, currentName: string): Promise<void> {
    try {
      await renamePath(from, to);
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw toBackendError(err);
      try {
        await mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
        await renamePath(from, to);
      } catch (retryErr) {
        throw toBackendError(retryErr, currentName);
      }
    }
  }

  /** Direct children, sorted, in batches of stats (see `syncReads` for why synchronous by default). */
  protected async *_list(name: string): AsyncIterable<ItemInfo> {
    const dir = this.#path(name);
    const sync = this.syncReads;
    let names: string[];
    try {
      names = (sync ? readdirSync(dir) : await readdir(dir)).filter(isValidName).sort();
    } catch (err) {
      throw toBackendError(err, name);
    }
    for (let at = 0; at < names.length; at += LIST_BATCH) {
      // A turn of the event loop between synchronous batches, so a long list starves nothing.
      if (sync && at > 0) await yieldToEventLoop();
      const batch = names.slice(at, at + LIST_BATCH);
      const stats = sync
        ? batch.map((entry) => statOrSkip(() => statSync(`${dir}/${entry}`, { throwIfNoEntry: false })))
        : await Promise.all(batch.map((entry) => pathStats(`${dir}/${entry}`).catch(skipVanished)));
      for (let i = 0; i < batch.length; i++) {
        const st = stats[i];
        if (st) yield itemFromStats(batch[i] as string, st);
      }
    }
  }

  /** Writes `value` to a temp file and renames it over `path`; small values synchronously (see `syncWrites`). */
  async #replace(path: string, value: Uint8Array): Promise<void> {
    if (this.syncWrites && !this.fsync) {
      if (value.byteLength <= SYNC_WRITE_LIMIT) {
        const turn = this.#syncTurns.take();
        if (turn) await turn;
        replaceSmallFileSync(path, value, this.#uploads);
      } else await replaceFileWritingInPool(path, value, this.#uploads);
    } else await publish(await writeTemp(path, value, this.fsync, this.#uploads), path, this.fsync);
  }

  /** Size of the file at `path`, 0 when there is none (quota accounting of overwrites). */
  async #sizeOf(path: string): Promise<number> {
    try {
      const st = await pathStats(path);
      return st.isFile() ? st.size : 0;
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
  }
}

/** Entries that vanish (or whose directory vanishes) while a list runs are skipped (docs/on-disk-format.md#posixfs-layout). */
function skipVanished(err: unknown): undefined {
  if (isMissing(err)) return undefined;
  throw toBackendError(err);
}

function statOrSkip(stat: () => Stats | undefined): Stats | undefined {
  try {
    return stat();
  } catch (err) {
    return skipVanished(err);
  }
}
