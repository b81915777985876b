import { closeSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, watch, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { Uploads } from "../src/uploads.js";
import { bytes, createdBase, tempDir, text, uploadsEntries, uploadsOf } from "./helpers.js";
import { fillUp, smallTmpfs, tmpfsAvailable, useUpInodes } from "./small-tmpfs.js";

// uploads.ts's branches the other tests left unchecked (found by mutation testing, session 10 of
// docs/mutation-testing.md): how a session claims its owner (once, also when claims cross or the
// session reopens), what it does when uploads.hid vanishes under it or a temp file cannot be
// created, and what the sweep makes of things under an owner's names that are no regular files.

const OWNER_LOCK_NAME = /^[0-9a-f]{16}\.lock$/;

/** Every descriptor of this process on something in the store's uploads.hid, deleted files included. */
function heldInUploads(base: string): string[] {
  const held: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${uploadsOf(base)}/`)) held.push(target.slice(uploadsOf(base).length + 1));
    } catch {} // closed meanwhile
  }
  return held.sort();
}

/** Opens `base` again, stores `n` values at once, and records every lock file created in uploads.hid meanwhile. */
async function locksCreatedByConcurrentStores(backend: PosixFsBackend, base: string, n: number): Promise<Set<string>> {
  mkdirSync(uploadsOf(base), { recursive: true });
  const created = new Set<string>();
  const watcher = watch(uploadsOf(base), (_event, name) => {
    if (typeof name === "string" && OWNER_LOCK_NAME.test(name)) created.add(name);
  });
  try {
    await Promise.all(Array.from({ length: n }, (_, i) => backend.store(`k${i}`, bytes(100 + i))));
    // inotify events arrive after the calls that caused them.
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    watcher.close();
  }
  return created;
}

describe("posixfs uploads: claiming a session's owner", () => {
  it("stores through the thread pool started together claim one owner, and a reopened session claims a fresh one", async () => {
    const base = await createdBase();
    const backend = new PosixFsBackend({ path: base, syncWrites: false });
    await backend.open();
    const first = await locksCreatedByConcurrentStores(backend, base, 6);
    expect([...first]).toHaveLength(1);
    expect(heldInUploads(base)).toEqual([...first]);
    await backend.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
    await backend.open();
    const second = await locksCreatedByConcurrentStores(backend, base, 6);
    expect([...second]).toHaveLength(1);
    expect(second).not.toEqual(first);
    expect(heldInUploads(base)).toEqual([...second]);
    await backend.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
    expect(heldInUploads(base)).toEqual([]);
  });

  it("close() while a session's first store is still claiming its owner: the owner is let go once that store ends", async () => {
    const base = await createdBase();
    const backend = new PosixFsBackend({ path: base, syncWrites: false });
    await backend.open();
    const storing = backend.store("late", bytes(10));
    await backend.close();
    await storing;
    expect(existsSync(uploadsOf(base))).toBe(false);
    expect(readdirSync(base)).toEqual(["late"]);
    expect(heldInUploads(base)).toEqual([]);
  });

  it("a synchronous claim made while an asynchronous one is in flight is kept; the other owner is let go at once", async () => {
    const base = await createdBase();
    const uploads = new Uploads(base);
    const pooled = uploads.create();
    const onThisThread = uploads.createSync();
    const later = await pooled;
    const locks = uploadsEntries(base).filter((name) => OWNER_LOCK_NAME.test(name));
    expect(locks).toHaveLength(1);
    const prefix = `${uploadsOf(base)}/${(locks[0] as string).slice(0, 16)}.`;
    expect(onThisThread.path.startsWith(prefix)).toBe(true);
    expect(later.path.startsWith(prefix)).toBe(true);
    expect(later.owner).toBe(onThisThread.owner);
    expect(heldInUploads(base)).toEqual([locks[0], later.path, onThisThread.path].map((p) => (p as string).replace(`${uploadsOf(base)}/`, "")).sort());
    for (const temp of [later, onThisThread]) {
      closeSync(temp.fd);
      rmSync(temp.path);
      temp.owner?.finished();
    }
    await uploads.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
    expect(heldInUploads(base)).toEqual([]);
  });

  it.each([true, false])(
    "uploads.hid removed under a live session: the next store claims a new owner and closes the old one's lock (syncWrites: %s)",
    async (syncWrites) => {
      const base = await createdBase();
      const backend = new PosixFsBackend({ path: base, syncWrites });
      await backend.open();
      await backend.store("a", text("first"));
      const [old] = uploadsEntries(base);
      expect(old).toMatch(OWNER_LOCK_NAME);
      rmSync(uploadsOf(base), { recursive: true });
      // The old lock's descriptor is still open, on a deleted file.
      expect(heldInUploads(base)).toEqual([`${old} (deleted)`]);
      // Two stores at once find it gone: the old owner is let go once, not once per store.
      await Promise.all([
        backend.store("b", text("second")),
        backend.storeStream("c", (async function* () {
          yield text("third");
        })()),
      ]);
      const [fresh] = uploadsEntries(base);
      expect(uploadsEntries(base)).toHaveLength(1);
      expect(fresh).toMatch(OWNER_LOCK_NAME);
      expect(fresh).not.toBe(old);
      expect(heldInUploads(base)).toEqual([fresh]);
      expect(await backend.load("b")).toEqual(text("second"));
      expect(await backend.load("c")).toEqual(text("third"));
      await backend.close();
      expect(existsSync(uploadsOf(base))).toBe(false);
      expect(heldInUploads(base)).toEqual([]);
    },
  );
});

const mountable = tmpfsAvailable;

describe.skipIf(!mountable)("posixfs uploads on a filesystem without free inodes", () => {
  it.each([true, false])(
    "a store whose temp file cannot be created fails with ENOSPC, and close still lets go of the owner (syncWrites: %s)",
    async (syncWrites) => {
      const fs = smallTmpfs(1024, 64);
      const base = join(fs, "store");
      const backend = new PosixFsBackend({ path: base, syncWrites });
      await backend.create();
      await backend.open();
      await backend.store("a", text("fits"));
      const lock = uploadsEntries(base);
      expect(lock).toEqual([expect.stringMatching(OWNER_LOCK_NAME)]);
      useUpInodes(fs);
      for (const store of [
        () => backend.store("b", text("no inode")),
        () => backend.store("c", bytes(100 * 1024)),
        () => backend.storeStream("d", (async function* () {
          yield text("no inode either");
        })()),
      ]) {
        const error = await store().then(
          () => undefined,
          (err: unknown) => err as Error & { code?: string; cause?: { code?: string } },
        );
        expect(error?.code).toBe("BACKEND_ERROR");
        expect(error?.cause?.code).toBe("ENOSPC");
      }
      // The same owner throughout: ENOSPC is no reason to give up the claim.
      expect(uploadsEntries(base)).toEqual(lock);
      await backend.close();
      expect(existsSync(uploadsOf(base))).toBe(false);
      expect(heldInUploads(base)).toEqual([]);
      expect(readdirSync(base)).toEqual(["a"]);
    },
  );

  it.each([true, false])("a session's first store, whose owner's lock file cannot be created, fails with ENOSPC and leaves nothing (syncWrites: %s)", async (syncWrites) => {
    const fs = smallTmpfs(1024, 64);
    const base = join(fs, "store");
    const backend = new PosixFsBackend({ path: base, syncWrites });
    await backend.create();
    await backend.open();
    mkdirSync(uploadsOf(base));
    useUpInodes(fs);
    const error = await backend.store("a", text("x")).then(
      () => undefined,
      (err: unknown) => err as Error & { code?: string; cause?: { code?: string } },
    );
    expect(error?.code).toBe("BACKEND_ERROR");
    expect(error?.cause?.code).toBe("ENOSPC");
    expect(readdirSync(uploadsOf(base))).toEqual([]);
    await backend.close();
    expect(existsSync(uploadsOf(base))).toBe(false);
  });
});

describe.skipIf(!mountable)("posixfs uploads: quota.hid's temp file on a full filesystem", () => {
  it("an open with a quota whose quota.hid cannot be rewritten fails with ENOSPC and leaves no temp file and no descriptor", async () => {
    const fs = smallTmpfs(512);
    const base = join(fs, "store");
    const backend = new PosixFsBackend({ path: base, quota: 10_000_000 });
    await backend.create();
    await backend.open();
    await backend.store("a", bytes(1000));
    await backend.close();
    fillUp(fs, "filler", 0);
    const error = await backend.open().then(
      () => undefined,
      (err: unknown) => err as Error & { code?: string; cause?: { code?: string } },
    );
    expect(error?.code).toBe("BACKEND_ERROR");
    expect(error?.cause?.code).toBe("ENOSPC");
    expect(existsSync(uploadsOf(base)) ? readdirSync(uploadsOf(base)) : []).toEqual([]);
    expect(heldInUploads(base)).toEqual([]);
    expect(readFileSync(join(base, "quota.hid"), "latin1").trim()).toBe("1000");
  });
});

describe("posixfs uploads sweep: what is no regular file under an owner's names", () => {
  const owner = "0123456789abcdef";
  it.each(["a directory", "a FIFO", "a symlink"])("an owner whose lock file is %s is no live session: its temp files go, the thing stays", async (kind) => {
    const base = await createdBase();
    const uploads = uploadsOf(base);
    mkdirSync(uploads);
    const lock = join(uploads, `${owner}.lock`);
    if (kind === "a directory") mkdirSync(lock);
    else if (kind === "a FIFO") execFileSync("mkfifo", [lock]);
    else {
      const target = join(tempDir(), "target.lock");
      writeFileSync(target, "");
      symlinkSync(target, lock);
    }
    writeFileSync(join(uploads, `${owner}.tmpaaaaaaaa.tmp`), bytes(10));
    // A directory under a temp file's name is none: left alone, not reported.
    mkdirSync(join(uploads, `${owner}.tmpbbbbbbbb.tmp`));
    const report = await new PosixFsBackend(base).checkFiles({ tempMaxAge: 0 });
    expect(report.findings).toEqual([{ path: `uploads.hid/${owner}.tmpaaaaaaaa.tmp`, size: 10, problem: "orphaned temp file", removed: false }]);
    const backend = new PosixFsBackend(base);
    await backend.open();
    expect(uploadsEntries(base)).toEqual([`${owner}.lock`, `${owner}.tmpbbbbbbbb.tmp`]);
    await backend.close();
  });

  it("an owner whose lock file is a unix socket is no live session either: open does not fail on it (ENXIO)", async () => {
    const base = await createdBase();
    const uploads = uploadsOf(base);
    mkdirSync(uploads);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(uploads, `${owner}.lock`), resolve));
    try {
      writeFileSync(join(uploads, `${owner}.tmpaaaaaaaa.tmp`), bytes(10));
      const backend = new PosixFsBackend(base);
      await backend.open();
      expect(uploadsEntries(base)).toEqual([`${owner}.lock`]);
      await backend.close();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("uploads.hid as a symlink: open fails and says why", async () => {
    const base = await createdBase();
    symlinkSync(tempDir(), uploadsOf(base));
    await expect(new PosixFsBackend(base).open()).rejects.toMatchObject({
      code: "BACKEND_ERROR",
      message: `${uploadsOf(base)} is a symlink: not swept, not written through`,
    });
  });

  it("a FIFO under a temp file's own name (no owner) is left alone, and does not hold the sweep", async () => {
    const base = await createdBase();
    const uploads = uploadsOf(base);
    mkdirSync(uploads);
    execFileSync("mkfifo", [join(uploads, "tmpfifofifo.tmp")]);
    writeFileSync(join(uploads, "tmporphaned.tmp"), bytes(7));
    const backend = new PosixFsBackend(base);
    await backend.open();
    expect(uploadsEntries(base)).toEqual(["tmpfifofifo.tmp"]);
    await backend.close();
  });
});
