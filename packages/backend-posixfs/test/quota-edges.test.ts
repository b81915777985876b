import { closeSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
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
