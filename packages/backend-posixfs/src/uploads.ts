import { closeSync, constants, fstatSync, mkdirSync, openSync, unlinkSync } from "node:fs";
import { mkdir, readdir, rmdir } from "node:fs/promises";
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

/** A temp file in the uploads directory: `fd` to write, `lock` holds its flock until released. */
export interface LockedTemp {
  readonly path: string;
  readonly fd: number;
  readonly lock: number;
}

/** A temp file the sweep found orphaned, or one it left because someone still holds it. */
export interface UploadEntry {
  readonly path: string;
  readonly size: number;
}

/**
 * Every temp file in the uploads directory is flock'ed by its writer from right after its
 * creation until it is renamed into place or removed. The kernel drops the lock when the writer
 * dies, so an unlocked temp file there is an orphan, whatever its age: a killed writer's upload
 * can be removed at the next open instead of living forever. Only our processes write there
 * (the reference writes its temp files next to their final names), so no other writer's
 * convention needs to be trusted.
 */
export class Uploads {
  readonly dir: string;

  constructor(base: string) {
    this.dir = `${base}/${UPLOADS_DIR}`;
  }

  /** Creates and locks a fresh temp file (mode 0600), creating the directory on first use. */
  async create(): Promise<LockedTemp> {
    for (let mkdirs = 0; ; ) {
      const path = `${this.dir}/${tempName()}`;
      let fd: number;
      try {
        fd = await openFile(path, CREATE_EXCLUSIVE, 0o600);
      } catch (err) {
        if (errnoOf(err) === "EEXIST") continue;
        if (errnoOf(err) !== "ENOENT" || mkdirs === MAX_MKDIRS) throw err;
        await mkdir(this.dir, { recursive: true });
        mkdirs++;
        continue;
      }
      const lock = await openFile(path, constants.O_RDONLY).catch(() => -1);
      try {
        if (lock >= 0 && tryLockFd(lock) && (await fileStats(lock)).nlink > 0) return { path, fd, lock };
      } catch (err) {
        closeQuietly(lock);
        await closeFile(fd).catch(() => undefined);
        await unlinkPath(path).catch(() => undefined);
        throw err;
      }
      // A sweep saw the new file before we locked it (and removed it): try another name.
      if (lock >= 0) closeQuietly(lock);
      await closeFile(fd).catch(() => undefined);
    }
  }

  /** create() with synchronous calls, for a small value written on the calling thread. */
  createSync(): LockedTemp {
    for (let mkdirs = 0; ; ) {
      const path = `${this.dir}/${tempName()}`;
      let fd: number;
      try {
        fd = openSync(path, CREATE_EXCLUSIVE, 0o600);
      } catch (err) {
        if (errnoOf(err) === "EEXIST") continue;
        if (errnoOf(err) !== "ENOENT" || mkdirs === MAX_MKDIRS) throw err;
        mkdirSync(this.dir, { recursive: true });
        mkdirs++;
        continue;
      }
      let lock = -1;
      try {
        lock = openSync(path, constants.O_RDONLY);
        if (tryLockFd(lock) && fstatSync(lock).nlink > 0) return { path, fd, lock };
      } catch (err) {
        if (!isMissing(err)) {
          if (lock >= 0) closeSync(lock);
          closeSync(fd);
          try {
            unlinkSync(path);
          } catch {}
          throw err;
        }
      }
      if (lock >= 0) closeSync(lock);
      closeSync(fd);
    }
  }

  /** Removes the directory when it is empty, so a closed store's tree is the reference's. */
  async removeIfEmpty(): Promise<void> {
    await rmdir(this.dir).catch(() => undefined);
  }

  /**
   * Removes the temp files no live writer holds (with `remove` false: only tells which it would);
   * returns those and the ones in use.
   */
  async sweep(remove = true): Promise<{ orphaned: UploadEntry[]; live: UploadEntry[] }> {
    const orphaned: UploadEntry[] = [];
    const live: UploadEntry[] = [];
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isMissing(err)) return { orphaned, live };
      throw err;
    }
    for (const name of names) {
      const path = `${this.dir}/${name}`;
      const fd = await openFile(path, constants.O_RDONLY).catch(() => -1);
      if (fd < 0) continue;
      try {
        const st = await fileStats(fd);
        if (!st.isFile()) continue;
        if (!tryLockFd(fd)) live.push({ path, size: st.size });
        else if (st.nlink > 0) {
          // Unlinked while we hold the lock, so a writer that races us sees it gone and starts over.
          if (remove)
            await unlinkPath(path).catch((err) => {
              if (!isMissing(err)) throw err;
            });
          orphaned.push({ path, size: st.size });
        }
      } finally {
        await closeFile(fd);
      }
    }
    return { orphaned, live };
  }
}
