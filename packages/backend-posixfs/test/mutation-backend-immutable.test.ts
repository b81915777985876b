import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { BackendDoesNotExist, BackendError } from "@borgstore/core";
import { afterEach, describe, expect, it } from "vitest";
import { bytes, newBackend, openBelow, tempDir, uploadsOf } from "./helpers.js";

// OS errors other than a missing file that root does get: EPERM from a file or directory with
// the immutable attribute (chattr +i, on the ext4/xfs/btrfs/tmpfs of the temp directory). The
// tests run as root, where EACCES cannot be made in-process; EPERM takes the same branches.

/** Whether chattr +i works here (root with CAP_LINUX_IMMUTABLE on a filesystem that has the attribute). */
function canMakeImmutable(): boolean {
  const probe = join(tempDir(), "probe");
  writeFileSync(probe, "");
  if (spawnSync("chattr", ["+i", probe]).status !== 0) return false;
  spawnSync("chattr", ["-i", probe]);
  return true;
}
const capable = canMakeImmutable();
if (!capable) {
  const message = "posixfs EPERM tests: chattr +i does not work here (needs root with CAP_LINUX_IMMUTABLE): SKIPPED";
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  console.warn(message);
}

const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);
const immutable: string[] = [];
afterEach(() => {
  for (const path of immutable.splice(0).reverse()) chattr("-i", path);
});

function chattr(flag: "+i" | "-i", path: string): void {
  const run = spawnSync("chattr", [flag, path], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`chattr ${flag} ${path} failed (${run.error?.message ?? run.stderr.trim()}): these tests need root (CAP_LINUX_IMMUTABLE) and a filesystem with the immutable attribute`);
}

function makeImmutable(path: string): void {
  chattr("+i", path);
  immutable.push(path);
}

async function failure(promise: Promise<unknown>): Promise<Error & { cause?: { code?: string } }> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (err) => err,
  );
}

/** A dead session's temp file in uploads.hid: its owner's lock file is gone, so a sweep removes it. */
function orphanIn(base: string): string {
  mkdirSync(uploadsOf(base), { recursive: true });
  const path = join(uploadsOf(base), "0123456789abcdef.tmpabcdefgh.tmp");
  writeFileSync(path, "left by a killed writer");
  return path;
}

describe.skipIf(!capable)("posixfs with files it may not change (EPERM)", () => {
  it("open leaves an orphaned temp file it may not remove, and the store still reads", async () => {
    const backend = newBackend();
    await backend.create();
    await backend.open();
    await backend.store("x", bytes(10));
    await backend.close();
    const orphan = orphanIn(backend.base);
    makeImmutable(orphan);
    await backend.open();
    expect((await backend.load("x")).byteLength).toBe(10);
    await backend.close();
    expect(readdirSync(uploadsOf(backend.base))).toEqual(["0123456789abcdef.tmpabcdefgh.tmp"]);
    expect(openBelow(backend.base)).toEqual([]);
  });

  it("destroy fails with a BackendError (the OS error as cause) when an entry cannot be removed, and keeps the base", async () => {
    const backend = newBackend();
    await backend.create();
    await backend.open();
    await backend.store("ns/x", bytes(3));
    await backend.close();
    makeImmutable(join(backend.base, "ns", "x"));
    const error = await failure(backend.destroy());
    expect(error).toBeInstanceOf(BackendError);
    expect(error).not.toBeInstanceOf(BackendDoesNotExist);
    // Node's rm reports the unlink's EPERM as the rmdir it tries next: ENOTDIR.
    expect(error.cause?.code).toMatch(/^(EPERM|ENOTDIR)$/);
    expect(readdirSync(backend.base)).toContain("ns");
  });

  it("a quota open that cannot create quota.hid fails with BackendError (EPERM) instead of trying again", async () => {
    const backend = newBackend();
    await backend.create();
    makeImmutable(backend.base);
    const quota = new PosixFsBackend({ path: backend.base, quota: 1000 });
    const error = await failure(quota.open());
    expect(error).toBeInstanceOf(BackendError);
    expect(error.cause?.code).toBe("EPERM");
    expect(openBelow(backend.base)).toEqual([]);
  });

  it("checkFiles' repair fails with a BackendError (EPERM) on an orphaned temp file next to its name that it may not remove", async () => {
    const backend = newBackend();
    await backend.create();
    await backend.open();
    await backend.store("ns/key", bytes(1));
    const old = join(backend.base, "ns", "tmpoldoldol.tmp");
    writeFileSync(old, bytes(4));
    utimesSync(old, ago(7200), ago(7200));
    makeImmutable(old);
    expect((await backend.checkFiles()).findings).toEqual([{ path: "ns/tmpoldoldol.tmp", size: 4, problem: "orphaned temp file", removed: false }]);
    const error = await failure(backend.checkFiles({ repair: true }));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.cause?.code).toBe("EPERM");
    expect(openBelow(backend.base)).toEqual([]);
    await backend.close();
  });
});
