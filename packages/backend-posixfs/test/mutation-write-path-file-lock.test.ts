import { closeSync, constants, openSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { flockAvailable, tryLockFd, withFileLock } from "../src/file-lock.js";
import { tempDir } from "./helpers.js";

// file-lock.ts's branches the quota tests reach only now and then (found by mutation testing,
// session 10 of docs/mutation-testing.md): a lock held by another open file (as another process's
// session holds quota.hid's), the file replaced or deleted while we wait for it, and tryLockFd's
// answers. The other holder is a second descriptor of this process: flock belongs to the open
// file description, so it excludes us as another process would.

const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as { flockSync: (fd: number, flags: string) => void };
const held = new Set<number>();
afterEach(() => {
  for (const fd of held) closeSync(fd);
  held.clear();
});

function holdLock(path: string): number {
  const fd = openSync(path, constants.O_RDONLY);
  held.add(fd);
  flockSync(fd, "exnb");
  return fd;
}

function release(fd: number): void {
  held.delete(fd);
  closeSync(fd);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("posixfs withFileLock", () => {
  it("runs nothing and resolves undefined for a missing file; rejects a path it cannot open", async () => {
    const dir = tempDir();
    let ran = false;
    expect(await withFileLock(join(dir, "missing"), async () => (ran = true))).toBeUndefined();
    symlinkSync("loop", join(dir, "loop"));
    await expect(withFileLock(join(dir, "loop"), async () => (ran = true))).rejects.toMatchObject({ code: "ELOOP" });
    expect(ran).toBe(false);
  });

  it("waits while another open file holds the lock, then runs holding it", async () => {
    const path = join(tempDir(), "quota.hid");
    writeFileSync(path, "1");
    const other = holdLock(path);
    let ran = false;
    const locked = withFileLock(path, async () => {
      ran = true;
      // Ours now: a third open file cannot take it.
      const probe = openSync(path, constants.O_RDONLY);
      try {
        return tryLockFd(probe);
      } finally {
        closeSync(probe);
      }
    });
    await sleep(150);
    expect(ran).toBe(false);
    release(other);
    expect(await locked).toBe(false);
    // Let go afterwards: free for the next.
    const after = openSync(path, constants.O_RDONLY);
    expect(tryLockFd(after)).toBe(true);
    closeSync(after);
  });

  it("a file replaced by rename while we waited is locked anew: the critical part runs on the new file, holding its lock", async () => {
    const dir = tempDir();
    const path = join(dir, "quota.hid");
    writeFileSync(path, "old");
    const other = holdLock(path);
    const seen: string[] = [];
    const locked = withFileLock(path, async () => {
      seen.push(readFileSync(path, "latin1"));
      const probe = openSync(path, constants.O_RDONLY);
      try {
        return tryLockFd(probe);
      } finally {
        closeSync(probe);
      }
    });
    await sleep(50);
    writeFileSync(join(dir, "new"), "new");
    renameSync(join(dir, "new"), path);
    // The new file is held too for a while: we must wait for it, not run on the old inode's lock.
    const otherOnNew = holdLock(path);
    release(other);
    await sleep(100);
    expect(seen).toEqual([]);
    release(otherOnNew);
    expect(await locked).toBe(false);
    expect(seen).toEqual(["new"]);
  });

  it("a file deleted while we waited: nothing runs, undefined", async () => {
    const path = join(tempDir(), "quota.hid");
    writeFileSync(path, "1");
    const other = holdLock(path);
    let ran = false;
    const locked = withFileLock(path, async () => (ran = true));
    await sleep(50);
    unlinkSync(path);
    release(other);
    expect(await locked).toBeUndefined();
    expect(ran).toBe(false);
  });
});

describe("posixfs tryLockFd", () => {
  it("takes a free lock, reports one held by another open file as false, and throws for a descriptor that is not open", () => {
    expect(flockAvailable()).toBe(true);
    const path = join(tempDir(), "f");
    writeFileSync(path, "");
    const other = holdLock(path);
    const mine = openSync(path, constants.O_RDONLY);
    expect(tryLockFd(mine)).toBe(false);
    release(other);
    expect(tryLockFd(mine)).toBe(true);
    closeSync(mine);
    // A number no descriptor of this process has (one just closed could be reused meanwhile).
    expect(() => tryLockFd(1_000_000)).toThrow(expect.objectContaining({ code: "EBADF" }));
  });
});
