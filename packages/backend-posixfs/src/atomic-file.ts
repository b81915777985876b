import { closeSync, constants, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { ByteSource } from "@borgstore/core";
import { tempName } from "@borgstore/core/backend";
import { errnoOf } from "./errors.js";
import { flockAvailable } from "./file-lock.js";
import { closeFile, openFile, renamePath, syncFile, unlinkPath, writeAll, writevAll } from "./fs-calls.js";
import type { LockedTemp, UploadHolder, Uploads } from "./uploads.js";

const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/**
 * A temp file, written but not yet visible under its final name: next to it (no `owner`), or in
 * the uploads directory, where its `owner` is told once it is published or abandoned.
 */
export interface TempFile {
  readonly path: string;
  readonly size: number;
  readonly owner: UploadHolder | undefined;
}

/**
 * Creates a fresh temp file (mode 0600) in `dir`. Tries first and creates missing directories
 * only after ENOENT, as the directory usually exists.
 */
async function createTemp(dir: string): Promise<LockedTemp> {
  let madeDir = false;
  for (;;) {
    const path = `${dir}/${tempName()}`;
    try {
      return { path, fd: await openFile(path, CREATE_EXCLUSIVE, 0o600), owner: undefined };
    } catch (err) {
      const code = errnoOf(err);
      if (code === "EEXIST") continue;
      if (code === "ENOENT" && !madeDir) {
        await mkdir(dir, { recursive: true });
        madeDir = true;
        continue;
      }
      throw err;
    }
  }
}

/** Removes a temp file, then tells its owner. */
async function discard(path: string, owner?: UploadHolder): Promise<void> {
  await unlinkPath(path).catch(() => undefined);
  owner?.finished();
}

/**
 * A temp file of this session's owner in `uploads` when given, else next to `finalPath` (also
 * when flock is not available: a file in uploads.hid without a locked owner would pass for an orphan).
 */
const startTemp = (finalPath: string, uploads: Uploads | undefined, alone = false): Promise<LockedTemp> =>
  uploads && flockAvailable() ? (alone ? uploads.createAlone() : uploads.create()) : createTemp(dirname(finalPath));

/** startTemp with synchronous calls. */
const startTempSync = (finalPath: string, uploads: Uploads | undefined): LockedTemp =>
  uploads && flockAvailable() ? uploads.createSync() : createTempSync(dirname(finalPath));

/** Writes `value` to a temp file (see startTemp). */
export async function writeTemp(
  finalPath: string,
  value: Uint8Array,
  fsync: boolean,
  uploads?: Uploads,
  alone = false,
): Promise<TempFile> {
  const { path, fd, owner } = await startTemp(finalPath, uploads, alone);
  try {
    await writeAll(fd, value);
    if (fsync) await syncFile(fd);
  } catch (err) {
    await closeFile(fd).catch(() => undefined);
    await discard(path, owner);
    throw err;
  }
  try {
    // Awaited before the rename: on network filesystems close() reports deferred write errors.
    await closeFile(fd);
  } catch (err) {
    await discard(path, owner);
    throw err;
  }
  return { path, size: value.byteLength, owner };
}

/**
 * Streams `source` into a temp file (see startTemp). The source is consumed completely before
 * this returns; if it (or a write) fails, the temp file is removed and the error rethrown. With
 * `onThisThread`, only the writes go to the thread pool (see replaceFileWritingInPool).
 */
export async function streamToTemp(
  finalPath: string,
  source: ByteSource,
  fsync: boolean,
  uploads?: Uploads,
  onThisThread = false,
): Promise<TempFile> {
  const { path, fd, owner } = onThisThread ? startTempSync(finalPath, uploads) : await startTemp(finalPath, uploads);
  const writes = new GatheredWrites(fd);
  let size = 0;
  let open = true;
  try {
    for await (const chunk of source) {
      await writes.add(chunk);
      size += chunk.byteLength;
    }
    await writes.finish();
    if (fsync) await syncFile(fd);
    open = false;
    if (onThisThread) closeSync(fd);
    else await closeFile(fd);
  } catch (err) {
    // A write may still be in flight: the descriptor is closed only after it.
    await writes.settled();
    if (open) await closeFile(fd).catch(() => undefined);
    await discard(path, owner);
    throw err;
  }
  return { path, size, owner };
}

/** Chunks gathered before they are written in one call. */
const GATHER = 1024 * 1024;
/** Chunks held at most while the previous write is still in flight (then the source waits). */
const GATHER_LIMIT = 2 * 1024 * 1024;

/**
 * Writes a stream's chunks (a request body's are 64 KiB) in gathered writev calls of about 1 MiB,
 * one in flight while the next are gathered: a thread-pool round trip per MiB instead of per
 * chunk, no copy to join them, and each written while still in the CPU's cache (measured with the
 * Python client, 16 MiB stores: the kernel's copy into the page cache took a third of the time
 * that copying from the whole value afterwards did). The chunks are kept by reference until
 * written (see BackendCapabilities.gathersChunks).
 */
class GatheredWrites {
  readonly #fd: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #inFlight: Promise<void> | undefined;
  #writing = false;
  /** The first failed write's error (boxed: anything may be thrown). */
  #failure: { err: unknown } | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  async add(chunk: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure.err;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#pendingBytes < GATHER) return;
    if (this.#writing) {
      if (this.#pendingBytes < GATHER_LIMIT) return;
      await this.#inFlight;
    }
    this.#start();
  }

  /** Writes what is left; resolves once everything is written. */
  async finish(): Promise<void> {
    if (this.#inFlight !== undefined) await this.#inFlight;
    if (this.#failure) throw this.#failure.err;
    if (this.#pending.length > 0) {
      this.#start();
      await this.#inFlight;
    }
  }

  /** Resolves once no write is in flight, whatever its outcome. */
  async settled(): Promise<void> {
    await this.#inFlight?.catch(() => undefined);
  }

  #start(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    const write = writevAll(this.#fd, batch);
    this.#writing = true;
    // Awaited later (add, finish); until then its failure must not count as unhandled.
    write.then(
      () => {
        this.#writing = false;
      },
      (err: unknown) => {
        this.#writing = false;
        this.#failure ??= { err };
      },
    );
    this.#inFlight = write;
  }
}

/**
 * Atomically replaces `finalPath` with the temp file, creating missing directories; on failure
 * the temp file is removed. Its owner is told only once the temp file is gone from its name.
 */
export async function publish(temp: TempFile, finalPath: string, fsync: boolean): Promise<void> {
  try {
    await renameIntoPlace(temp.path, finalPath);
  } catch (err) {
    await discard(temp.path, temp.owner);
    throw err;
  }
  temp.owner?.finished();
  if (fsync) await syncDirectory(dirname(finalPath));
}

async function renameIntoPlace(from: string, to: string): Promise<void> {
  try {
    await renamePath(from, to);
    return;
  } catch (err) {
    const code = errnoOf(err);
    if (code === "EXDEV") return copyIntoPlace(from, to);
    if (code !== "ENOENT") throw err;
  }
  await mkdir(dirname(to), { recursive: true });
  try {
    await renamePath(from, to);
  } catch (err) {
    if (errnoOf(err) === "EXDEV") return copyIntoPlace(from, to);
    throw err;
  }
}

/** The final name's directory is another filesystem (a mount below the base): copy next to it, then rename. */
async function copyIntoPlace(from: string, to: string): Promise<void> {
  const { path, fd } = await createTemp(dirname(to));
  await closeFile(fd);
  try {
    await copyFile(from, path);
    await renamePath(path, to);
  } catch (err) {
    await discard(path);
    throw err;
  }
  await unlinkPath(from);
}

/**
 * writeTemp + publish as synchronous calls on the calling thread, for a small value: one create,
 * write, close and rename of a few microseconds each, where thread-pool round trips would cost
 * more than the work. Same guarantees: the value appears under its name whole or not at all, and a
 * killed writer's temp file is one of an unlocked owner in `uploads`, removed at the next open.
 */
export function replaceSmallFileSync(finalPath: string, value: Uint8Array, uploads?: Uploads): void {
  const { path, fd, owner } = uploads && flockAvailable() ? uploads.createSync() : createTempSync(dirname(finalPath));
  try {
    try {
      for (let done = 0; done < value.byteLength; ) done += writeSync(fd, value, done, value.byteLength - done);
    } finally {
      closeSync(fd);
    }
    renameIntoPlaceSync(path, finalPath, value);
  } catch (err) {
    try {
      unlinkSync(path);
    } catch {}
    throw err;
  } finally {
    owner?.finished();
  }
}

function createTempSync(dir: string): LockedTemp {
  for (let madeDir = false; ; ) {
    const path = `${dir}/${tempName()}`;
    try {
      return { path, fd: openSync(path, CREATE_EXCLUSIVE, 0o600), owner: undefined };
    } catch (err) {
      const code = errnoOf(err);
      if (code === "EEXIST") continue;
      if (code !== "ENOENT" || madeDir) throw err;
      mkdirSync(dir, { recursive: true });
      madeDir = true;
    }
  }
}

/** renameIntoPlace with synchronous calls; across filesystems `value` is written again next to its name. */
function renameIntoPlaceSync(from: string, to: string, value: Uint8Array): void {
  for (let madeDir = false; ; ) {
    try {
      renameSync(from, to);
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === "EXDEV") {
        replaceSmallFileSync(to, value);
        unlinkSync(from);
        return;
      }
      if (code !== "ENOENT" || madeDir) throw err;
      mkdirSync(dirname(to), { recursive: true });
      madeDir = true;
    }
  }
}

/**
 * writeTemp + publish (without fsync) where only the write goes to the thread pool: creating,
 * closing and renaming the temp file are synchronous calls of a few microseconds each.
 * One thread-pool round trip instead of about six, each of which waits for two threads to get a
 * core, which on a busy machine costs more than the write. Same guarantees as writeTemp + publish.
 */
export async function replaceFileWritingInPool(finalPath: string, value: Uint8Array, uploads?: Uploads): Promise<void> {
  const temp = uploads && flockAvailable() ? uploads.createSync() : createTempSync(dirname(finalPath));
  try {
    try {
      await writeAll(temp.fd, value);
    } finally {
      // Before the rename: on network filesystems close() reports deferred write errors.
      closeSync(temp.fd);
    }
  } catch (err) {
    discardSync(temp);
    throw err;
  }
  await publishOnThisThread({ path: temp.path, size: value.byteLength, owner: temp.owner }, finalPath);
}

/** publish (without fsync) with a synchronous rename, creating missing directories. */
export async function publishOnThisThread(temp: TempFile, finalPath: string): Promise<void> {
  try {
    try {
      renameSync(temp.path, finalPath);
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw err;
      mkdirSync(dirname(finalPath), { recursive: true });
      renameSync(temp.path, finalPath);
    }
  } catch (err) {
    // The final name's directory is another filesystem: publish copies (and cleans up itself).
    if (errnoOf(err) === "EXDEV") return publish(temp, finalPath, false);
    discardSync(temp);
    throw err;
  }
  temp.owner?.finished();
}

/** discard as synchronous calls. */
function discardSync(temp: { path: string; owner: UploadHolder | undefined }): void {
  try {
    unlinkSync(temp.path);
  } catch {}
  temp.owner?.finished();
}

/** Drops a temp file that will not be published (e.g. the quota refused it). */
export async function abandon(temp: TempFile): Promise<void> {
  await discard(temp.path, temp.owner);
}

/** fsync of a directory makes a rename in it durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const fd = await openFile(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await syncFile(fd);
  } finally {
    await closeFile(fd);
  }
}

/**
 * Plain write of a small file through a temp file + rename (used for quota.hid), in `uploads` a
 * temp file locked on its own (see Uploads.createAlone).
 */
export async function replaceFile(finalPath: string, text: string, fsync: boolean, uploads?: Uploads): Promise<void> {
  const temp = await writeTemp(finalPath, new TextEncoder().encode(text), fsync, uploads, true);
  await publish(temp, finalPath, fsync);
}
