import { closeSync, constants, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { afterEach, describe, expect, it } from "vitest";
import { fsyncedPathsDuring } from "./fsync-observer.js";
import { bytes, newBackend, uploadsOf } from "./helpers.js";

// quota.ts's edges the other quota tests leave open (session 10's mutants): a store already over
// its limit (the quota lowered below the bytes stored) still shrinks, and a rescan leaves out a
// live session's upload in uploads.hid, and a persist writes quota.hid once.

const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as { flockSync: (fd: number, flags: string) => void };
const held: number[] = [];
afterEach(() => {
  for (const fd of held.splice(0)) closeSync(fd);
});

/** A store holding `a` (100 bytes) and `b` (10 bytes), written without a quota, closed. */
async function storeWith110Bytes(): Promise<string> {
  const backend = newBackend();
  await backend.create();
  await backend.open();
  await backend.store("a", bytes(100));
  await backend.store("b", bytes(10));
  await backend.close();
  return backend.base;
}

describe("posixfs quota edges", () => {
  it("over its limit (a quota lowered below the bytes stored), a store still deletes and shrinks; growing stays refused", async () => {
    const base = await storeWith110Bytes();
    const backend = new PosixFsBackend({ path: base, quota: 50 });
    await backend.open();
    expect((await backend.quota()).usage).toBe(110);
    await backend.delete("b");
    expect((await backend.quota()).usage).toBe(100);
    await backend.store("a", bytes(60));
    expect((await backend.quota()).usage).toBe(60);
    await expect(backend.store("c", bytes(1))).rejects.toThrow("Quota exceeded: 61 > 50");
    await backend.close();
  });

  it("a rescan leaves out the upload a live session holds in uploads.hid", async () => {
    const base = await storeWith110Bytes();
    // A live session's claim: its lock file, flocked, and its temp file with 50 bytes written so far.
    mkdirSync(uploadsOf(base), { recursive: true });
    const lock = openSync(join(uploadsOf(base), "0123456789abcdef.lock"), constants.O_RDWR | constants.O_CREAT, 0o600);
    held.push(lock);
    flockSync(lock, "exnb");
    writeFileSync(join(uploadsOf(base), "0123456789abcdef.tmpabcdefgh.tmp"), bytes(50));
    writeFileSync(join(base, "quota.hid"), "not a number"); // makes the open rescan
    const backend = new PosixFsBackend({ path: base, quota: 1000 });
    await backend.open();
    expect((await backend.quota()).usage).toBe(110);
    await backend.close();
  });

  it("a persist rewrites quota.hid once (one directory fsync), under the lock", async () => {
    const base = await storeWith110Bytes();
    const backend = new PosixFsBackend({ path: base, quota: 1000 });
    await backend.open();
    await backend.store("c", bytes(5));
    const synced = await fsyncedPathsDuring(() => backend.persistQuota());
    expect(synced.filter((path) => path === base)).toHaveLength(1);
    expect(readFileSync(join(base, "quota.hid"), "latin1")).toBe("115");
    await backend.close();
  });
});
