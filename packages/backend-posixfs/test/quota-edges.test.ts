import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { fsyncedPathsDuring } from "./fsync-observer.js";
import { bytes, newBackend } from "./helpers.js";

// The quota's edges the other quota tests left unchecked (found by mutation testing,
// docs/mutation-testing.md): what a rescan counts, which quota.hid contents count as a number,
// and that a failed write or persist gives back what it charged.

const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as {
  flockSync: (fd: number, flags: "exnb" | "un") => number;
};

async function createdPath(): Promise<string> {
  const backend = newBackend();
  await backend.create();
  return backend.base;
}

async function quotaOpen(path: string, quota = 1000): Promise<PosixFsBackend> {
  const backend = new PosixFsBackend({ path, quota });
  await backend.open();
  return backend;
}

const journalsOf = (path: string) => readdirSync(path).filter((name) => name.startsWith("quota-session-"));
const record = (path: string) => Number(readFileSync(join(path, journalsOf(path)[0] as string), "latin1").trim());
const deadJournal = (path: string, delta: number) =>
  writeFileSync(join(path, "quota-session-deadsession9.hid"), String(delta).padEnd(24, " "));

/** Descriptors this process holds on files below `dir` that were deleted. */
function deletedOpenBelow(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`) && target.endsWith("(deleted)")) open.push(target);
    } catch {} // closed meanwhile (readdir's own descriptor)
  }
  return open;
}

/** Holds quota.hid's flock (as another session would) until the returned function is called. */
function holdQuotaLock(path: string): () => void {
  const fd = openSync(join(path, "quota.hid"), "r");
  flockSync(fd, "exnb");
  return () => closeSync(fd);
}

const usage = async (backend: PosixFsBackend) => (await backend.quota()).usage;
const quotaFile = (path: string) => readFileSync(join(path, "quota.hid"), "latin1");

describe("posixfs quota rescans", () => {
  it("skip the bookkeeping names only at the top, temp files and symlinks everywhere", async () => {
    const path = await createdPath();
    writeFileSync(join(path, "a"), bytes(10));
    writeFileSync(join(path, "quota-session-aaaaaaaaaaaa.hid"), bytes(24)); // a journal: not counted
    mkdirSync(join(path, "uploads.hid"));
    writeFileSync(join(path, "uploads.hid", "x"), bytes(1000));
    mkdirSync(join(path, "ns"));
    writeFileSync(join(path, "ns", "quota.hid"), bytes(20)); // only the top's are ours
    writeFileSync(join(path, "ns", "uploads.hid"), bytes(30));
    writeFileSync(join(path, "ns", "quota-session-bbbbbbbbbbbb.hid"), bytes(40));
    writeFileSync(join(path, "ns", "tmp0123abcd.tmp"), bytes(500)); // a temp file
    symlinkSync(join(path, "a"), join(path, "ns", "link"));
    const backend = await quotaOpen(path);
    expect(await usage(backend)).toBe(100);
    await backend.close();
  });

  it("take a quota.hid with blanks around its number as that number, and rescan one too large to be exact", async () => {
    const path = await createdPath();
    writeFileSync(join(path, "a"), bytes(42));
    writeFileSync(join(path, "quota.hid"), " 7 \n");
    const kept = await quotaOpen(path);
    expect(await usage(kept)).toBe(7);
    await kept.close();
    writeFileSync(join(path, "quota.hid"), "99999999999999999999");
    const rescanned = await quotaOpen(path);
    expect(await usage(rescanned)).toBe(42);
    await rescanned.close();
    expect(quotaFile(path)).toBe("42");
  });

  it("read only quota.hid's first 100 bytes: a number behind 100 blanks is no number", async () => {
    const path = await createdPath();
    writeFileSync(join(path, "a"), bytes(42));
    writeFileSync(join(path, "quota.hid"), `${" ".repeat(100)}7`);
    const backend = await quotaOpen(path);
    expect(await usage(backend)).toBe(42);
    await backend.close();
  });
});

describe("posixfs quota opens and persists", () => {
  it("two sessions of one process opening a store without quota.hid at once both start (one creates it, one finds it)", async () => {
    const path = await createdPath();
    writeFileSync(join(path, "a"), bytes(33));
    const [one, two] = await Promise.all([quotaOpen(path), quotaOpen(path)]);
    expect([await usage(one), await usage(two)]).toEqual([33, 33]);
    await one.close();
    await two.close();
    expect(quotaFile(path)).toBe("33");
  });

  it("a persist that finds garbage in quota.hid writes this session's usage", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(70));
    writeFileSync(join(path, "quota.hid"), "garbage");
    await backend.persistQuota();
    expect(quotaFile(path)).toBe("70");
    await backend.store("b", bytes(5));
    await backend.close();
    expect(quotaFile(path)).toBe("75");
  });
});

describe("posixfs quota charges", () => {
  it("a store or streamed store that fails gives back what it charged; a failed delete credits nothing", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("a", bytes(100));
    // A non-empty directory under the name: the rename fails.
    await backend.store("dir/x", bytes(1));
    await expect(backend.store("dir", bytes(300))).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    expect(await usage(backend)).toBe(101);
    async function* source() {
      yield bytes(200);
    }
    await expect(backend.storeStream("dir", source())).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    expect(await usage(backend)).toBe(101);
    await expect(backend.delete("dir")).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    expect(await usage(backend)).toBe(101);
    // The whole limit is still there to use.
    await backend.store("b", bytes(899));
    await backend.close();
  });

  it("a persist that fails keeps its delta for the next one, which then succeeds (and so does close)", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(100));
    rmSync(join(path, "quota.hid"));
    mkdirSync(join(path, "quota.hid"));
    await expect(backend.persistQuota()).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    rmSync(join(path, "quota.hid"), { recursive: true });
    writeFileSync(join(path, "quota.hid"), "50");
    await backend.persistQuota();
    expect(quotaFile(path)).toBe("150");
    expect(await usage(backend)).toBe(150);
    await backend.close();
  });
});

describe("posixfs quota.hid lock", () => {
  it("a persist waiting for the lock while quota.hid is deleted writes this session's usage", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(60));
    const held = openSync(join(path, "quota.hid"), "r");
    flockSync(held, "exnb");
    let settled = false;
    const persisting = backend.persistQuota().finally(() => {
      settled = true;
    });
    await sleep(30);
    expect(settled).toBe(false);
    unlinkSync(join(path, "quota.hid"));
    closeSync(held);
    await persisting;
    expect(quotaFile(path)).toBe("60");
    await backend.close();
  });
});

describe("posixfs quota journal and lock, step by step", () => {
  it("while a persist waits for the lock, the journal counts its delta and newer charges; quota.hid deleted meanwhile gets the persisted part", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(60));
    expect(record(path)).toBe(60);
    const release = holdQuotaLock(path);
    const persisting = backend.persistQuota();
    await sleep(20);
    await backend.store("b", bytes(10));
    expect(record(path)).toBe(70);
    unlinkSync(join(path, "quota.hid"));
    release();
    await persisting;
    expect(quotaFile(path)).toBe("60");
    expect(record(path)).toBe(10);
    expect(await usage(backend)).toBe(70);
    await backend.close();
    expect(quotaFile(path)).toBe("70");
    expect(journalsOf(path)).toEqual([]);
  });

  it("a persist that locked a quota.hid since replaced locks the new file, and waits for its holder", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(5));
    const releaseOld = holdQuotaLock(path);
    let settled = false;
    const persisting = backend.persistQuota().finally(() => {
      settled = true;
    });
    await sleep(20);
    writeFileSync(join(path, "new.hid"), "100");
    const newFd = openSync(join(path, "new.hid"), "r");
    flockSync(newFd, "exnb");
    renameSync(join(path, "new.hid"), join(path, "quota.hid"));
    releaseOld();
    await sleep(300);
    expect(settled).toBe(false);
    closeSync(newFd);
    await persisting;
    expect(quotaFile(path)).toBe("105");
    await backend.close();
  });

  it("a close whose final persist fails leaves the journal, which the next open counts", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(100));
    rmSync(join(path, "quota.hid"));
    mkdirSync(join(path, "quota.hid"));
    await expect(backend.close()).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    expect(journalsOf(path)).toHaveLength(1);
    rmSync(join(path, "quota.hid"), { recursive: true });
    writeFileSync(join(path, "quota.hid"), "0");
    const next = await quotaOpen(path);
    expect(await usage(next)).toBe(100);
    await next.close();
  });

  it("an open counts and deletes a dead journal and keeps no descriptor on it; one without a quota deletes it also without quota.hid", async () => {
    const path = await createdPath();
    writeFileSync(join(path, "quota.hid"), "10");
    deadJournal(path, 7);
    const backend = await quotaOpen(path);
    expect(await usage(backend)).toBe(17);
    expect(deletedOpenBelow(path)).toEqual([]);
    await backend.close();
    rmSync(join(path, "quota.hid"));
    deadJournal(path, 7);
    const plain = new PosixFsBackend({ path });
    await plain.open();
    expect(journalsOf(path)).toEqual([]);
    await plain.close();
  });

  it("an open without a quota whose quota.hid cannot be deleted (a directory) fails with BACKEND_ERROR", async () => {
    const path = await createdPath();
    mkdirSync(join(path, "quota.hid"));
    await expect(new PosixFsBackend({ path }).open()).rejects.toMatchObject({ code: "BACKEND_ERROR" });
  });

  it("an open whose quota.hid cannot be opened (a symlink loop) fails with BACKEND_ERROR", async () => {
    const path = await createdPath();
    symlinkSync(join(path, "quota.hid"), join(path, "quota.hid"));
    await expect(quotaOpen(path)).rejects.toMatchObject({ code: "BACKEND_ERROR" });
  });

  it("fsyncs quota.hid's every rewrite: at open, at persist, after garbage, and when it went missing", async () => {
    const path = await createdPath();
    const dirSynced = async (work: () => Promise<void>) => (await fsyncedPathsDuring(work)).includes(path);
    let backend!: PosixFsBackend;
    expect(await dirSynced(async () => void (backend = await quotaOpen(path)))).toBe(true);
    await backend.store("a", bytes(5));
    expect(await dirSynced(() => backend.persistQuota())).toBe(true);
    writeFileSync(join(path, "quota.hid"), "garbage");
    expect(await dirSynced(() => backend.persistQuota())).toBe(true);
    const release = holdQuotaLock(path);
    const synced = dirSynced(() => backend.persistQuota());
    await sleep(20);
    unlinkSync(join(path, "quota.hid"));
    release();
    expect(await synced).toBe(true);
    await backend.close();
  });
});
