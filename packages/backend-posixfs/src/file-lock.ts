import { type FileHandle, open, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { BackendError } from "@borgstore/core";
import { isMissing } from "./errors.js";

type FlockCallback = (err: NodeJS.ErrnoException | null) => void;
type Flock = (fd: number, flags: "ex" | "un", callback: FlockCallback) => void;

let flockFunction: Flock | undefined;

/**
 * flock(2) from fs-ext-extra-prebuilt (prebuilt binaries inside the npm tarball, no compiler
 * needed). Loaded on first use only, so stores without a quota never load native code.
 */
function loadFlock(): Flock {
  if (!flockFunction) {
    try {
      const require = createRequire(import.meta.url);
      flockFunction = (require("fs-ext-extra-prebuilt") as { flock: Flock }).flock;
    } catch (cause) {
      throw new BackendError("posixfs quota needs flock(2), but fs-ext-extra-prebuilt could not be loaded", { cause });
    }
  }
  return flockFunction;
}

function flock(handle: FileHandle, flags: "ex" | "un"): Promise<void> {
  const lock = loadFlock();
  return new Promise((resolve, reject) => lock(handle.fd, flags, (err) => (err ? reject(err) : resolve())));
}

/**
 * Runs `critical` while holding an exclusive flock on the existing file at `path` — the same
 * lock the Python reference takes on quota.hid, so both implementations exclude each other.
 * The file is replaced by rename while locked, so after getting the lock we check that the path
 * still names the inode we locked, and lock again if not. Resolves to undefined (without
 * running `critical`) when the file does not exist.
 */
export async function withFileLock<T>(path: string, critical: () => Promise<T>): Promise<T | undefined> {
  for (;;) {
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      await flock(handle, "ex");
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
