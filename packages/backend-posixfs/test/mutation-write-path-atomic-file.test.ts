import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend, type PosixFsOptions } from "@borgstore/backend-posixfs";
import { describe, expect, it, vi } from "vitest";
import { publish, publishOnThisThread, replaceFileWritingInPool, replaceSmallFileSync, streamToTemp, writeTemp } from "../src/atomic-file.js";
import { OWNED_TEMP, bytes, createdBase, tempDir, uploadsEntries, uploadsOf } from "./helpers.js";
import { fillUp, smallTmpfs, tmpfsAvailable, useUpInodes } from "./small-tmpfs.js";

// atomic-file.ts's failure branches the other tests left unchecked (found by mutation testing,
// session 10 of docs/mutation-testing.md): a rename that fails (the name is a directory), a write
// that fails (a full filesystem), a copy across filesystems that fails. Each time the store fails,
// its temp file is gone, no descriptor stays open, and its owner is told: close() then lets go of
// the session's lock and removes uploads.hid.

const OWNER_LOCK_NAME = /^[0-9a-f]{16}\.lock$/;

type Write = { path: string; options: Omit<PosixFsOptions, "path">; store: (b: PosixFsBackend, name: string, value: Uint8Array) => Promise<void> };

async function* inChunks(value: Uint8Array, size = 64 * 1024): AsyncIterable<Uint8Array> {
  for (let at = 0; at < value.byteLength; at += size) yield value.subarray(at, at + size);
}

const whole = (b: PosixFsBackend, name: string, value: Uint8Array) => b.store(name, value);
const streamed = (b: PosixFsBackend, name: string, value: Uint8Array) => b.storeStream(name, inChunks(value));

/** Every write path of a store: [what it is, options, how it stores, the size it is taken for]. */
const WRITES: [string, Omit<PosixFsOptions, "path">, Write["store"], number][] = [
  ["small, on this thread", {}, whole, 60 * 1024],
  ["large, written in the pool", {}, whole, 200 * 1024],
  ["syncWrites: false", { syncWrites: false }, whole, 200 * 1024],
  ["fsync", { fsync: true }, whole, 200 * 1024],
  ["streamed, renamed on this thread", {}, streamed, 200 * 1024],
  ["streamed, syncWrites: false", { syncWrites: false }, streamed, 200 * 1024],
];

/** This process's descriptors on files below `dir`, deleted ones included, open sessions' lock files left out. */
function openBelow(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`) && !/\/uploads\.hid\/[0-9a-f]{16}\.lock$/.test(target)) open.push(target);
    } catch {} // closed meanwhile
  }
  return open;
}

type Failure = { code?: string; cause?: { code?: string } };

async function failure(promise: Promise<unknown>): Promise<Failure> {
  return promise.then(
    () => {
      throw new Error("the store succeeded");
    },
    (err: unknown) => err as Failure,
  );
}

/** After a failed store: only the session's lock file in uploads.hid, nothing open, and close lets go of the owner. */
async function expectCleanAfterFailure(backend: PosixFsBackend, base: string): Promise<void> {
  expect(uploadsEntries(base).filter((name) => !OWNER_LOCK_NAME.test(name))).toEqual([]);
  expect(openBelow(base)).toEqual([]);
  await backend.close();
  expect(existsSync(uploadsOf(base))).toBe(false);
}

describe("posixfs atomic writes: a rename that fails", () => {
  it.each(WRITES)("a store onto a directory fails, removes its temp file and tells its owner (%s)", async (_what, options, store, size) => {
    const base = await createdBase();
    const backend = new PosixFsBackend({ ...options, path: base });
    await backend.open();
    mkdirSync(join(base, "ns", "taken"), { recursive: true });
    writeFileSync(join(base, "ns", "taken", "inside"), "x");
    const error = await failure(store(backend, "ns/taken", bytes(size)));
    expect(error.code).toBe("BACKEND_ERROR");
    expect(["EISDIR", "ENOTEMPTY", "EEXIST"]).toContain(error.cause?.code);
    expect(readdirSync(join(base, "ns"))).toEqual(["taken"]);
    await expectCleanAfterFailure(backend, base);
  });
});

describe.skipIf(!tmpfsAvailable)("posixfs atomic writes on a full filesystem (ENOSPC)", () => {
  it.each(WRITES)("a store that does not fit fails with ENOSPC, leaves no temp file and tells its owner (%s)", async (_what, options, store, size) => {
    const fs = smallTmpfs(512);
    const base = join(fs, "store");
    const backend = new PosixFsBackend({ ...options, path: base });
    await backend.create();
    await backend.open();
    await backend.store("ns/fits", bytes(10));
    // Some of the value fits: the write fails part way, after a short write.
    fillUp(fs, "filler", 16 * 1024);
    const error = await failure(store(backend, "ns/big", bytes(size)));
    expect(error.code).toBe("BACKEND_ERROR");
    expect(error.cause?.code).toBe("ENOSPC");
    expect(readdirSync(join(base, "ns"))).toEqual(["fits"]);
    await expectCleanAfterFailure(backend, base);
  });

  it.each([true, false])(
    "a streamed store stops taking chunks once a gathered write failed, and reports that write's ENOSPC (syncWrites: %s)",
    async (syncWrites) => {
      const fs = smallTmpfs(1024);
      const base = join(fs, "store");
      const backend = new PosixFsBackend({ path: base, syncWrites });
      await backend.create();
      await backend.open();
      const chunk = bytes(64 * 1024);
      let taken = 0;
      async function* eightMiB(): AsyncIterable<Uint8Array> {
        for (; taken < 128; taken++) {
          yield chunk;
          // Lets a write in flight finish now and then, as a client's body does.
          if (taken % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const error = await failure(backend.storeStream("big", eightMiB()));
      expect(error.cause?.code).toBe("ENOSPC");
      // About 1-3 MiB are taken before the failure shows: far from all 8.
      expect(taken).toBeLessThan(100);
      expect(readdirSync(base).filter((name) => name !== "uploads.hid")).toEqual([]);
      await expectCleanAfterFailure(backend, base);
    },
  );

  it.each(WRITES)("a store into a full other filesystem (EXDEV, copied) fails with ENOSPC, leaves no copy and no temp file (%s)", async (_what, options, store, size) => {
    const base = await createdBase();
    const far = smallTmpfs(128);
    symlinkSync(far, join(base, "far"));
    const backend = new PosixFsBackend({ ...options, path: base });
    await backend.open();
    await backend.store("far/fits", bytes(10));
    fillUp(far, "filler", 16 * 1024);
    const error = await failure(store(backend, "far/big", bytes(size)));
    expect(error.code).toBe("BACKEND_ERROR");
    expect(error.cause?.code).toBe("ENOSPC");
    expect(readdirSync(far).sort()).toEqual(["filler", "fits"]);
    expect(openBelow(far)).toEqual([]);
    await expectCleanAfterFailure(backend, base);
  });

  it.each(WRITES)("a store onto a directory of another filesystem (EXDEV, copied) fails, leaves no copy and no temp file (%s)", async (_what, options, store, size) => {
    const base = await createdBase();
    const far = smallTmpfs(1024);
    symlinkSync(far, join(base, "far"));
    mkdirSync(join(far, "taken"));
    writeFileSync(join(far, "taken", "inside"), "x");
    const backend = new PosixFsBackend({ ...options, path: base });
    await backend.open();
    const error = await failure(store(backend, "far/taken", bytes(size)));
    expect(error.code).toBe("BACKEND_ERROR");
    expect(readdirSync(far)).toEqual(["taken"]);
    expect(openBelow(far)).toEqual([]);
    await expectCleanAfterFailure(backend, base);
  });
});

// Where flock(2) is not available the backend passes no uploads directory: temp files are made next
// to their final names (createTemp), creating missing directories on ENOENT. Here flock loads, so
// those paths are called directly, as the backend calls them there.
describe("posixfs atomic writes without an uploads directory (temp files next to the name)", () => {
  async function* parts(...values: Uint8Array[]): AsyncIterable<Uint8Array> {
    yield* values;
  }

  it("every write path creates the missing directories above the name and leaves no temp file", async () => {
    const dir = tempDir();
    const value = bytes(1000, 0x62);
    replaceSmallFileSync(join(dir, "small/a/b"), value);
    await replaceFileWritingInPool(join(dir, "pooled/a/b"), value);
    await publish(await writeTemp(join(dir, "temp/a/b"), value, false), join(dir, "temp/a/b"), false);
    await publishOnThisThread(await streamToTemp(join(dir, "sync-stream/a/b"), parts(value), false, undefined, true), join(dir, "sync-stream/a/b"));
    await publish(await streamToTemp(join(dir, "stream/a/b"), parts(value), false), join(dir, "stream/a/b"), false);
    for (const top of ["small", "pooled", "temp", "sync-stream", "stream"]) {
      expect(readdirSync(join(dir, top, "a")), top).toEqual(["b"]);
      expect(Buffer.compare(readFileSync(join(dir, top, "a/b")), value), top).toBe(0);
    }
  });

  it("below a file (ENOTDIR) every write path fails with the OS error, making nothing", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "x");
    const name = join(dir, "file/sub/key");
    const value = bytes(10);
    expect(() => replaceSmallFileSync(name, value)).toThrow(expect.objectContaining({ code: "ENOTDIR" }));
    await expect(replaceFileWritingInPool(name, value)).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(writeTemp(name, value, false)).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(streamToTemp(name, parts(value), false, undefined, true)).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(streamToTemp(name, parts(value), false)).rejects.toMatchObject({ code: "ENOTDIR" });
    expect(readdirSync(dir)).toEqual(["file"]);
  });

  it.skipIf(!tmpfsAvailable)("on a filesystem without free inodes every write path fails with ENOSPC and leaves nothing", async () => {
    const fs = smallTmpfs(1024, 64);
    mkdirSync(join(fs, "ns"));
    useUpInodes(fs);
    const name = join(fs, "ns/key");
    const value = bytes(10);
    expect(() => replaceSmallFileSync(name, value)).toThrow(expect.objectContaining({ code: "ENOSPC" }));
    await expect(replaceFileWritingInPool(name, value)).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(writeTemp(name, value, false)).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(streamToTemp(name, parts(value), false, undefined, true)).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(streamToTemp(name, parts(value), false)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(readdirSync(join(fs, "ns"))).toEqual([]);
  });

  it.skipIf(!tmpfsAvailable)("on a full filesystem every write path fails with ENOSPC, the OS error itself, and leaves nothing", async () => {
    const fs = smallTmpfs(512);
    mkdirSync(join(fs, "ns"));
    fillUp(fs, "filler", 16 * 1024);
    const name = join(fs, "ns/key");
    const value = bytes(200 * 1024);
    expect(() => replaceSmallFileSync(name, value)).toThrow(expect.objectContaining({ code: "ENOSPC" }));
    await expect(replaceFileWritingInPool(name, value)).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(writeTemp(name, value, false)).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(streamToTemp(name, parts(value), false, undefined, true)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(readdirSync(join(fs, "ns"))).toEqual([]);
  });
});

describe("posixfs streamed stores through the thread pool", () => {
  it("write a temp file of the session's owner (not one locked on its own, as quota.hid's)", async () => {
    const base = await createdBase();
    const backend = new PosixFsBackend({ path: base, syncWrites: false });
    await backend.open();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const storing = backend.storeStream("s", (async function* () {
      yield bytes(10);
      await gate;
      yield bytes(10);
    })());
    const temps = await vi.waitFor(
      () => {
        const found = uploadsEntries(base).filter((name) => !OWNER_LOCK_NAME.test(name));
        if (found.length === 0) throw new Error("no temp file yet");
        return found;
      },
      { timeout: 10_000, interval: 10 },
    );
    release();
    await storing;
    expect(temps).toEqual([expect.stringMatching(OWNED_TEMP)]);
    await backend.close();
  });
});
