import { readlinkSync } from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";

const fs = createRequire(import.meta.url)("node:fs") as typeof import("node:fs");

/**
 * Runs `work` and returns the paths of the files and directories fsync(2) was called on meanwhile.
 * The real fsync still runs: node:fs's fsync is wrapped only to read each descriptor's path from
 * /proc/self/fd at the moment it is synced (syncBuiltinESMExports carries the wrapper to ESM imports).
 */
export async function fsyncedPathsDuring(work: () => Promise<void>): Promise<string[]> {
  const synced: string[] = [];
  const original = fs.fsync;
  fs.fsync = ((fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
    synced.push(readlinkSync(`/proc/self/fd/${fd}`));
    return original(fd, callback);
  }) as typeof fs.fsync;
  syncBuiltinESMExports();
  try {
    await work();
  } finally {
    fs.fsync = original;
    syncBuiltinESMExports();
  }
  return synced;
}
