import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

// A tiny tmpfs mounted in a temp directory: a real full filesystem (ENOSPC on write, or on create
// once its inodes are used up), where the write paths' failure branches run. mount(2) needs root
// (CI runs the tests as root): where it is refused the tests skip loudly, and fail under CI=true.

const PREFIX = "borgstore-posixfs-tmpfs-";
const mounts: string[] = [];

/**
 * A test process killed before its afterAll (a timeout under mutation testing, Ctrl-C) leaves its
 * mounts behind: unmounted at the next load, found by the pid in their names.
 */
function unmountLeftovers(): void {
  const mine = new RegExp(`^${tmpdir()}/${PREFIX}(\\d+)-`);
  for (const line of readFileSync("/proc/self/mounts", "latin1").split("\n")) {
    const dir = line.split(" ")[1] ?? "";
    const pid = mine.exec(dir)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    try {
      execFileSync("umount", [dir], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
afterAll(() => {
  for (const dir of mounts.splice(0)) {
    try {
      execFileSync("umount", [dir], { stdio: "ignore" });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});

function tryMount(options: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { stdio: "ignore" });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  mounts.push(dir);
  // A mount that "worked" but left the directory on the parent's filesystem would fill /tmp instead.
  if (statSync(dir).dev === statSync(tmpdir()).dev) throw new Error(`mount -t tmpfs on ${dir} left it on ${tmpdir()}'s filesystem`);
  return dir;
}

/** Whether a tmpfs can be mounted here (tried once, at load). */
export const tmpfsAvailable = ((): boolean => {
  unmountLeftovers();
  const probe = tryMount("size=64k");
  if (probe) return true;
  const message = "mount -t tmpfs is not allowed here (not root?): the full-filesystem tests of the write path cannot run";
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING ${message}\n\n`);
  return false;
})();

/** A fresh tmpfs of `sizeKiB` KiB (and with `inodes`, at most that many inodes), mounted on a new temp directory. */
export function smallTmpfs(sizeKiB: number, inodes?: number): string {
  const dir = tryMount(`size=${sizeKiB}k${inodes ? `,nr_inodes=${inodes}` : ""},mode=0700`);
  if (!dir) throw new Error("mount -t tmpfs failed");
  return dir;
}

/** Fills the filesystem of `dir` with a file `name` until about `leaveBytes` are free. */
export function fillUp(dir: string, name: string, leaveBytes: number): void {
  const { bavail, bsize } = statfsSync(dir);
  writeFileSync(join(dir, name), new Uint8Array(Math.max(0, Number(bavail) * Number(bsize) - leaveBytes)));
}

/** Creates empty files in `dir` until the filesystem has no inode left; returns how many. */
export function useUpInodes(dir: string): number {
  for (let i = 0; ; i++) {
    try {
      closeSync(openSync(join(dir, `inode${i}`), "w"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOSPC") return i;
      throw err;
    }
  }
}
