import { type FileHandle, open, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";
import { BackendError } from "@borgstore/core";
import { KeyedQueue } from "@borgstore/core/backend";
import { errnoOf, isMissing } from "./errors.js";

type FlockSync = (fd: number, flags: "exnb" | "un") => number;

let flockSync: FlockSync | undefined;

/**
 * flock(2) from fs-ext-extra-prebuilt (prebuilt binaries inside the npm tarball, no compiler
 * needed). Loaded on first use only: a quota, or the first value written through uploads.hid.
 */
function loadFlock(): FlockSync {
  if (!flockSync) {
    try {
      const require = createRequire(import.meta.url);
      flockSync = (require("fs-ext-extra-prebuilt") as { flockSync: FlockSync }).flockSync;
    } catch (cause) {
      throw new BackendError("posixfs quota needs flock(2), but fs-ext-extra-prebuilt could not be loaded", { cause });
    }
  }
  return flockSync;
}

/** Longest pause between two attempts to get a contended lock. */
const MAX_POLL_MS = 50;

/**
 * Takes an exclusive flock without ever blocking a thread: a blocking flock would sit in libuv's
 * thread pool, and a few waiters could then starve the lock holder of the threads it needs to
 * finish and unlock. The non-blocking call returns at once; a contended lock is polled.
 */
async function lockExclusive(handle: FileHandle): Promise<void> {
  const flock = loadFlock();
  for (let pause = 1; ; pause = Math.min(2 * pause, MAX_POLL_MS)) {
    try {
      flock(handle.fd, "exnb");
      return;
    } catch (err) {
      if (errnoOf(err) !== "EAGAIN" && errnoOf(err) !== "EWOULDBLOCK") throw err;
    }
    await sleep(pause);
  }
}

/** Sessions of this process queue here per file, so only one of them polls the flock at a time. */
const sessions = new KeyedQueue();

/**
 * Runs `critical` while holding an exclusive flock on the existing file at `path` — the same
 * lock the Python reference takes on quota.hid, so both implementations exclude each other.
 * The file is replaced by rename while locked, so after getting the lock we check that the path
 * still names the inode we locked, and lock again if not. Resolves to undefined (without
 * running `critical`) when the file does not exist.
 */
export function withFileLock<T>(path: string, critical: () => Promise<T>): Promise<T | undefined> {
  return sessions.run(path, () => lockAndRun(path, critical));
}

async function lockAndRun<T>(path: string, critical: () => Promise<T>): Promise<T | undefined> {
  for (;;) {
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      await lockExclusive(handle);
      const [locked, current] = await Promise.all([handle.stat(), stat(path).catch(() => undefined)]);
      if (current === undefined) return undefined;
      if (current.ino !== locked.ino || current.dev !== locked.dev) continue;
      return await critical();
    } finally {
      // Closing the descriptor releases the lock.
      await handle.close();
    }
  }
}

/**
 * Tries an exclusive flock on an open descriptor without waiting: true when taken (held until the
 * descriptor is closed), false when another open file holds it.
 */
export function tryLockFd(fd: number): boolean {
  try {
    loadFlock()(fd, "exnb");
    return true;
  } catch (err) {
    if (errnoOf(err) === "EAGAIN" || errnoOf(err) === "EWOULDBLOCK") return false;
    throw err;
  }
}

let available: boolean | undefined;

/** Whether flock(2) can be used here (the native module loads); asked once. */
export function flockAvailable(): boolean {
  if (available === undefined) {
    try {
      loadFlock();
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}
