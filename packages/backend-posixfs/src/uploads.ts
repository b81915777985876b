import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, mkdirSync, openSync, rmdirSync, unlinkSync } from "node:fs";
import { lstat, mkdir, readdir, rmdir } from "node:fs/promises";
import { basename } from "node:path";
import { BackendError } from "@borgstore/core";
import { tempName } from "@borgstore/core/backend";
import { errnoOf, isMissing } from "./errors.js";
import { tryLockFd } from "./file-lock.js";
import { closeFile, closeQuietly, fileStats, openFile, unlinkPath } from "./fs-calls.js";

/**
 * Directory below the base path for the temp files of every value and of quota.hid: hidden from
 * both implementations' list (the .hid suffix), on the same filesystem, so a rename moves a
 * finished value into place atomically.
 */
export const UPLOADS_DIR = "uploads.hid";

/**
 * Another session's close removes the empty directory, possibly between our mkdir and create; a
 * process opening and closing the store in a tight loop did that 5 times in a row now and then
 * (11 in 123,000 small stores). Each round is two system calls: trying far longer costs nothing.
 */
const MAX_MKDIRS = 1000;

const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
/**
 * How a sweep opens what it finds there: a symlink is not followed (ELOOP), and a FIFO opens at once
 * instead of holding a thread-pool thread (and the process's exit) until a writer comes. Only a
 * regular file (fstat) is then one of ours.
 */
const OPEN_FOUND = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** What opening something under a lock file's name that is no file gives (OPEN_FOUND): a symlink, a unix socket. */
const NOT_A_LOCK_FILE = new Set(["ELOOP", "ENXIO"]);

/** `<owner>.lock`: the file a session holds an exclusive flock on while it lives. */
const OWNER_LOCK = /^([0-9a-f]{16})\.lock$/;
/** `<owner>.tmpXXXXXXXX.tmp`: a temp file of that session. */
const OWNED_TEMP = /^([0-9a-f]{16})\.tmp[a-z0-9_]{8}\.tmp$/;

/** Whoever keeps a temp file in the uploads directory from passing for an orphan; told when the file is gone from its name. */
export interface UploadHolder {
  finished(): void;
}

/** A new temp file: `fd` to write; `owner.finished()` once it is renamed or removed (no owner: a temp file next to its final name). */
export interface LockedTemp {
  readonly path: string;
  readonly fd: number;
  readonly owner: UploadHolder | undefined;
}

/** A temp file the sweep found orphaned, or one it left because someone still holds it. */
export interface UploadEntry {
  readonly path: string;
  readonly size: number;
}

/**
 * A session's claim on its temp files: an exclusive flock on `uploads.hid/<id>.lock`, held from
 * the session's first write until its close and the end of its last upload. The id is random (a
 * pid is reused), and flock belongs to an open file description, so two sessions of one process
 * exclude each other as two processes do.
 */
export class UploadOwner implements UploadHolder {
  /** `<dir>/<id>.`: the start of this owner's temp file paths. */
  readonly prefix: string;
  #active = 0;
  #retired = false;
  #released = false;

  constructor(
    readonly dir: string,
    readonly lockPath: string,
    readonly fd: number,
    id: string,
  ) {
    this.prefix = `${dir}/${id}.`;
  }

  /**
   * Counts an upload starting under this owner, before its temp file's create: a close() during
   * that create then keeps the lock until the upload ends. False once the lock is let go (claim
   * another owner).
   */
  start(): boolean {
    if (this.#released) return false;
    this.#active++;
    return true;
  }

  /** One of this owner's temp files is gone from its name (renamed into place or removed). */
  finished(): void {
    if (--this.#active === 0 && this.#retired) {
      this.#release();
      rmdirQuietly(this.dir);
    }
  }

  /** The session closed: lets go of the claim now, or when its last upload ends. */
  retire(): void {
    this.#retired = true;
    if (this.#active === 0) this.#release();
  }

  #release(): void {
    // Once only: a second close would close whatever descriptor reuses the number (another session's lock).
    if (this.#released) return;
    this.#released = true;
    // Unlinked before the close drops the lock, so that no one finds it unlocked while it lives.
    try {
      unlinkSync(this.lockPath);
    } catch {}
    closeSync(this.fd);
  }
}

/** The flock a temp file of createAlone() holds on itself, through a descriptor of its own. */
class FileLock implements UploadHolder {
  constructor(readonly fd: number) {}

  finished(): void {
    closeQuietly(this.fd);
  }
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {}
}

function ownerId(): string {
  return randomBytes(8).toString("hex");
}

/**
 * Every temp file in the uploads directory belongs to a live session while that session holds the
 * flock on its owner's lock file (see UploadOwner). The kernel drops the lock when the process
 * dies, so a temp file whose owner's lock is free (or gone) is an orphan, whatever its age: a
 * killed writer's upload can be removed at the next open instead of living forever. A store then
 * costs only its own temp file's create, write, close and rename; the lock is taken once per
 * session. Only our processes write there (the reference writes its temp files next to their
 * final names), so no other writer's convention needs to be trusted.
 */
export class Uploads {
  readonly dir: string;
  #owner: UploadOwner | undefined;
  #claiming: Promise<UploadOwner> | undefined;
  /** After close(): an upload still starting claims an owner that retires with it. */
  #closed = false;

  constructor(base: string) {
    this.dir = `${base}/${UPLOADS_DIR}`;
  }

  /**
   * Creates a temp file that holds its own flock until `finished()` (an open, a flock, an fstat
   * and a close more than create()), without claiming this session's owner: for quota.hid, written
   * at every open with a quota and then rarely, so that only a session that stores values keeps a
   * lock file in uploads.hid.
   */
  async createAlone(): Promise<LockedTemp> {
    return createExclusiveIn(this.dir, tempName, async (path, fd) => {
      const lock = await openFile(path, constants.O_RDONLY).catch(() => -1);
      try {
        if (lock >= 0 && tryLockFd(lock) && (await fileStats(lock)).nlink > 0) return { path, fd, owner: new FileLock(lock) };
      } catch (err) {
        closeQuietly(lock);
        await closeFile(fd).catch(() => undefined);
        await unlinkPath(path).catch(() => undefined);
        throw err;
      }
      // A sweep saw the new file before we locked it (and removed it): try another name.
      if (lock >= 0) closeQuietly(lock);
      await closeFile(fd).catch(() => undefined);
      return undefined;
    });
  }

  /** A (re)opened session claims its owner anew on its first write. */
  open(): void {
    this.#closed = false;
  }

  /** Creates a fresh temp file (mode 0600) of this session, claiming its owner on first use. */
  async create(): Promise<LockedTemp> {
    for (let lost = 0; ; ) {
      const owner = this.#owner ?? (await this.#claimAsync());
      if (!owner.start()) continue;
      const path = owner.prefix + tempName();
      let fd: number;
      try {
        fd = await openFile(path, CREATE_EXCLUSIVE, 0o600);
      } catch (err) {
        owner.finished();
        if (errnoOf(err) === "EEXIST") continue;
        if (!this.#lostOwner(owner, err, lost++)) throw err;
        continue;
      }
      return this.#started(owner, path, fd);
    }
  }

  /** create() with synchronous calls, for a small value written on the calling thread. */
  createSync(): LockedTemp {
    for (let lost = 0; ; ) {
      const owner = this.#owner ?? this.#adopt(claimOwnerSync(this.dir));
      if (!owner.start()) continue;
      const path = owner.prefix + tempName();
      let fd: number;
      try {
        fd = openSync(path, CREATE_EXCLUSIVE, 0o600);
      } catch (err) {
        owner.finished();
        if (errnoOf(err) === "EEXIST") continue;
        if (!this.#lostOwner(owner, err, lost++)) throw err;
        continue;
      }
      return this.#started(owner, path, fd);
    }
  }

  /** Hands out a temp file counted on its owner (see UploadOwner.start). */
  #started(owner: UploadOwner, path: string, fd: number): LockedTemp {
    if (this.#closed && this.#owner === owner) {
      this.#owner = undefined;
      owner.retire();
    }
    return { path, fd, owner };
  }

  /**
   * The uploads directory vanished under a live owner (someone removed it by hand): that owner's
   * lock file went with it, so the session claims a new one. True when the caller should retry.
   */
  #lostOwner(owner: UploadOwner, err: unknown, lost: number): boolean {
    if (errnoOf(err) !== "ENOENT" || lost >= MAX_MKDIRS) return false;
    if (this.#owner === owner) this.#owner = undefined;
    owner.retire();
    return true;
  }

  async #claimAsync(): Promise<UploadOwner> {
    this.#claiming ??= claimOwner(this.dir).finally(() => {
      this.#claiming = undefined;
    });
    return this.#adopt(await this.#claiming);
  }

  /** Keeps the first owner claimed; a second one (sync and async claims crossed) is let go. */
  #adopt(claimed: UploadOwner): UploadOwner {
    if (this.#owner === undefined) this.#owner = claimed;
    else if (this.#owner !== claimed) claimed.retire();
    return this.#owner;
  }

  /** Lets go of this session's claim (once its uploads end) and removes the directory when empty, so a closed store's tree is the reference's. */
  async close(): Promise<void> {
    this.#closed = true;
    const owner = this.#owner;
    this.#owner = undefined;
    owner?.retire();
    await rmdir(this.dir).catch(() => undefined);
  }

  /**
   * Removes the temp files no live session owns and dead sessions' lock files (with `remove`
   * false: only tells which it would); returns those temp files and the ones in use.
   */
  async sweep(remove = true): Promise<{ orphaned: UploadEntry[]; live: UploadEntry[] }> {
    const orphaned: UploadEntry[] = [];
    const live: UploadEntry[] = [];
    let names: string[];
    try {
      // Through a symlink planted there, the sweep would remove files outside the store.
      if ((await lstat(this.dir)).isSymbolicLink()) throw new BackendError(`${this.dir} is a symlink: not swept, not written through`);
      names = await readdir(this.dir);
    } catch (err) {
      if (isMissing(err)) return { orphaned, live };
      throw err;
    }
    const owners = new Map<string, string[]>();
    const unowned: string[] = [];
    for (const name of names) {
      const temp = OWNED_TEMP.exec(name);
      const lock = temp ? undefined : OWNER_LOCK.exec(name);
      const id = temp?.[1] ?? lock?.[1];
      if (id === undefined) unowned.push(name);
      else {
        const temps = owners.get(id) ?? [];
        if (temp) temps.push(name);
        owners.set(id, temps);
      }
    }
    for (const [id, temps] of owners) await this.#sweepOwner(id, temps, remove, orphaned, live);
    for (const name of unowned) await this.#sweepUnowned(`${this.dir}/${name}`, remove, orphaned, live);
    return { orphaned, live };
  }

  /** An owner's temp files stay while its lock is held; else they go, and then its lock file. */
  async #sweepOwner(id: string, temps: string[], remove: boolean, orphaned: UploadEntry[], live: UploadEntry[]): Promise<void> {
    const lockPath = `${this.dir}/${id}.lock`;
    // A missing lock file: the session closed (after its last upload) or died and was swept. Something
    // else under its name (a directory, a FIFO, a symlink: ELOOP, a unix socket: ENXIO) is no
    // session's: it is left alone.
    const fd = await openFile(lockPath, OPEN_FOUND).catch((err) => (isMissing(err) || NOT_A_LOCK_FILE.has(errnoOf(err) ?? "") ? -1 : Promise.reject(err)));
    try {
      const lockFile = fd >= 0 && (await fileStats(fd)).isFile();
      const alive = lockFile && !tryLockFd(fd);
      for (const name of temps) {
        const path = `${this.dir}/${name}`;
        const st = await lstat(path).catch(() => undefined);
        if (!st?.isFile()) continue;
        if (alive) live.push({ path, size: st.size });
        else {
          if (remove) await unlinkPath(path).catch(ignoreMissing);
          orphaned.push({ path, size: st.size });
        }
      }
      // Unlinked while we hold its lock: an owner still starting up finds it gone and picks another id.
      if (!alive && lockFile && remove) await unlinkPath(lockPath).catch(ignoreMissing);
    } finally {
      if (fd >= 0) await closeFile(fd);
    }
  }

  /** A temp file that holds its own flock (quota.hid's, see createAlone): removed unless someone holds it. */
  async #sweepUnowned(path: string, remove: boolean, orphaned: UploadEntry[], live: UploadEntry[]): Promise<void> {
    const fd = await openFile(path, OPEN_FOUND).catch(() => -1);
    if (fd < 0) return;
    try {
      const st = await fileStats(fd);
      if (!st.isFile()) return;
      if (!tryLockFd(fd)) live.push({ path, size: st.size });
      else if (st.nlink > 0) {
        if (remove) await unlinkPath(path).catch(ignoreMissing);
        orphaned.push({ path, size: st.size });
      }
    } finally {
      await closeFile(fd);
    }
  }
}

function ignoreMissing(err: unknown): void {
  if (!isMissing(err)) throw err;
}

/**
 * Creates a new file (mode 0600) in `dir` exclusively, under a fresh `newName()` each try, and
 * hands it to `keep`: what `keep` returns is the result; undefined (having closed the descriptor
 * and removed what it should) means "try another name". Another name on EEXIST too; on ENOENT the
 * directory is made anew, up to MAX_MKDIRS times in all.
 */
async function createExclusiveIn<T>(dir: string, newName: () => string, keep: (path: string, fd: number) => Promise<T | undefined>): Promise<T> {
  for (let mkdirs = 0; ; ) {
    const path = `${dir}/${newName()}`;
    let fd: number;
    try {
      fd = await openFile(path, CREATE_EXCLUSIVE, 0o600);
    } catch (err) {
      if (errnoOf(err) === "EEXIST") continue;
      if (errnoOf(err) !== "ENOENT" || mkdirs === MAX_MKDIRS) throw err;
      await mkdir(dir, { recursive: true });
      mkdirs++;
      continue;
    }
    const kept = await keep(path, fd);
    if (kept !== undefined) return kept;
  }
}

/** createExclusiveIn with synchronous calls. */
function createExclusiveInSync<T>(dir: string, newName: () => string, keep: (path: string, fd: number) => T | undefined): T {
  for (let mkdirs = 0; ; ) {
    const path = `${dir}/${newName()}`;
    let fd: number;
    try {
      fd = openSync(path, CREATE_EXCLUSIVE, 0o600);
    } catch (err) {
      if (errnoOf(err) === "EEXIST") continue;
      if (errnoOf(err) !== "ENOENT" || mkdirs === MAX_MKDIRS) throw err;
      mkdirSync(dir, { recursive: true });
      mkdirs++;
      continue;
    }
    const kept = keep(path, fd);
    if (kept !== undefined) return kept;
  }
}

const newLockName = () => `${ownerId()}.lock`;

/**
 * Creates and locks a new owner's lock file. A sweep may open it between our create and flock
 * and, finding it unlocked, unlink it: then our flock fails (the sweep holds it) or locks an
 * unlinked file, and we start over under another id.
 */
async function claimOwner(dir: string): Promise<UploadOwner> {
  return createExclusiveIn(dir, newLockName, async (lockPath, fd) => {
    try {
      if (tryLockFd(fd) && (await fileStats(fd)).nlink > 0) return new UploadOwner(dir, lockPath, fd, basename(lockPath, ".lock"));
    } catch (err) {
      closeQuietly(fd);
      await unlinkPath(lockPath).catch(() => undefined);
      throw err;
    }
    await unlinkPath(lockPath).catch(() => undefined);
    await closeFile(fd).catch(() => undefined);
    return undefined;
  });
}

/** claimOwner with synchronous calls. */
function claimOwnerSync(dir: string): UploadOwner {
  return createExclusiveInSync(dir, newLockName, (lockPath, fd) => {
    let locked = false;
    try {
      locked = tryLockFd(fd) && fstatSync(fd).nlink > 0;
    } catch (err) {
      closeSync(fd);
      try {
        unlinkSync(lockPath);
      } catch {}
      throw err;
    }
    if (locked) return new UploadOwner(dir, lockPath, fd, basename(lockPath, ".lock"));
    try {
      unlinkSync(lockPath);
    } catch {}
    closeSync(fd);
    return undefined;
  });
}
