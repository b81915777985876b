import { type Dirent, constants } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { isValidName } from "@borgstore/core";
import { TEMP_NAME } from "@borgstore/core/backend";
import { isMissing } from "./errors.js";
import { tryLockFd } from "./file-lock.js";
import { closeFile, openFile, unlinkPath } from "./fs-calls.js";
import { QUOTA_FILE } from "./quota.js";
import { isJournalName } from "./quota-journal.js";
import { UPLOADS_DIR, Uploads } from "./uploads.js";

/** Options of checkFiles. */
export interface FileCheckOptions {
  /** Remove orphaned temp files (default false: only report them). */
  repair?: boolean;
  /**
   * Age in seconds after which a temp file next to its final name counts as orphaned (default
   * 3600). Such files carry no lock (the reference writes them, and so do we where flock cannot
   * be loaded), so only their age tells a dead writer's from a live one's.
   */
  tempMaxAge?: number;
}

/** A file or directory below the base path, by its path relative to it. */
export interface FileFinding {
  /** Path relative to the base directory. */
  readonly path: string;
  /** Size in bytes (0 for directories). */
  readonly size: number;
  /** Why it is listed. */
  readonly problem: "orphaned temp file" | "temp file in use" | "unknown file" | "not a regular file or directory";
  /** Removed by the repair. */
  readonly removed: boolean;
}

/** What checkFiles found. */
export interface FileCheckReport {
  /** Everything out of place, one entry per file or directory. */
  readonly findings: FileFinding[];
  /** Files the check looked at (objects included). */
  readonly files: number;
}

const DEFAULT_TEMP_MAX_AGE = 3600;

/**
 * What a walk of the base path finds that a list cannot show: temp files (removing the orphaned
 * ones on repair), entries whose names no implementation would write, and anything that is
 * neither a regular file nor a directory. Our own bookkeeping files are not findings.
 */
export async function checkFiles(base: string, options: FileCheckOptions = {}): Promise<FileCheckReport> {
  const findings: FileFinding[] = [];
  const repair = options.repair ?? false;
  const oldest = Date.now() - (options.tempMaxAge ?? DEFAULT_TEMP_MAX_AGE) * 1000;
  let files = 0;

  const uploads = new Uploads(base);
  const swept = await uploads.sweep(repair);
  for (const { path, size } of swept.orphaned)
    findings.push({ path: relative(base, path), size, problem: "orphaned temp file", removed: repair });
  for (const { path, size } of swept.live) findings.push({ path: relative(base, path), size, problem: "temp file in use", removed: false });

  async function walk(dir: string, rel: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = `${dir}/${entry.name}`;
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (!rel && (entry.name === UPLOADS_DIR || entry.name === QUOTA_FILE || isJournalName(entry.name))) continue;
      if (entry.isDirectory()) {
        if (!isValidName(relPath)) findings.push({ path: relPath, size: 0, problem: "unknown file", removed: false });
        else await walk(path, relPath);
        continue;
      }
      const st = await lstat(path).catch(() => undefined);
      if (!st) continue;
      if (!entry.isFile()) {
        findings.push({ path: relPath, size: st.size, problem: "not a regular file or directory", removed: false });
        continue;
      }
      files++;
      if (TEMP_NAME.test(entry.name)) {
        const orphaned = st.mtimeMs < oldest;
        const removed = orphaned && repair && (await removeUnlocked(path));
        findings.push({ path: relPath, size: st.size, problem: orphaned ? "orphaned temp file" : "temp file in use", removed });
      } else if (!isValidName(relPath)) {
        findings.push({ path: relPath, size: st.size, problem: "unknown file", removed: false });
      }
    }
  }

  await walk(base, "");
  return { findings, files };
}

const relative = (base: string, path: string): string => path.slice(base.length + 1);

/** Unlinks `path` while holding its flock, unless someone else holds it. */
async function removeUnlocked(path: string): Promise<boolean> {
  const fd = await openFile(path, constants.O_RDONLY).catch(() => -1);
  if (fd < 0) return false;
  try {
    if (!tryLockFd(fd)) return false;
    await unlinkPath(path);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  } finally {
    await closeFile(fd);
  }
}
