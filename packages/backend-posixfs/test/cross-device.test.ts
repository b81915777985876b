import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend, type PosixFsOptions } from "@borgstore/backend-posixfs";
import { afterAll, describe, expect, it } from "vitest";
import { OWNER_LOCK, filesBelow, tempDir } from "./helpers.js";

// A namespace directory on another filesystem (a mount below the base; here a symlink into
// /dev/shm, Linux's tmpfs): rename(2) from uploads.hid fails with EXDEV, and the value is copied
// next to its name instead. Linux only (/dev/shm).
const OTHER_FS = "/dev/shm";
const onLinux = process.platform === "linux";
const others: string[] = [];
afterAll(() => {
  for (const dir of others) rmSync(dir, { recursive: true, force: true });
});

async function crossDevice(options: Omit<PosixFsOptions, "path"> = {}): Promise<{ backend: PosixFsBackend; base: string; other: string }> {
  const base = join(tempDir(), "store");
  const backend = new PosixFsBackend({ ...options, path: base });
  await backend.create();
  await backend.open();
  const other = mkdtempSync(join(OTHER_FS, "borgstore-posixfs-"));
  others.push(other);
  expect(statSync(other).dev, `${OTHER_FS} must be another filesystem than ${base}`).not.toBe(statSync(base).dev);
  symlinkSync(other, join(base, "far"));
  return { backend, base, other };
}

/**
 * This process's open files below `dirs` (a temp file's lock left open shows here, "(deleted)"),
 * once the closes that were not waited for (a lock's) have had time to run.
 */
async function openFilesBelow(...dirs: string[]): Promise<string[]> {
  let open = openNow(dirs);
  for (const deadline = Date.now() + 10_000; open.length > 0 && Date.now() < deadline; open = openNow(dirs))
    await new Promise((resolve) => setTimeout(resolve, 20));
  return open;
}

function openNow(dirs: string[]): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (dirs.some((dir) => target.startsWith(`${dir}/`)) && !OWNER_LOCK.test(target)) open.push(target);
    } catch {} // closed meanwhile (readdir's own descriptor)
  }
  return open;
}

async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

function bytes(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
}

/** Compared as buffers: vitest's deep equality walks a typed array element by element (seconds for 300 KiB). */
async function expectValue(backend: PosixFsBackend, name: string, value: Uint8Array): Promise<void> {
  const loaded = await backend.load(name);
  expect(loaded.byteLength).toBe(value.byteLength);
  expect(Buffer.compare(loaded, value)).toBe(0);
}

/** Nothing but the published values: no temp file in uploads.hid (where the open session keeps its lock file) or next to them. */
async function expectOnly(base: string, other: string, names: string[]): Promise<void> {
  expect(await filesBelow(other)).toEqual(names.sort());
  expect(uploadsEntries(base)).toEqual([]);
}

/** What uploads.hid holds but for open sessions' lock files. */
function uploadsEntries(base: string): string[] {
  const uploads = join(base, "uploads.hid");
  return (existsSync(uploads) ? readdirSync(uploads) : []).filter((name) => !OWNER_LOCK.test(`uploads.hid/${name}`));
}

describe.skipIf(!onLinux)("a namespace on another filesystem (EXDEV)", () => {
  it("stores small (synchronous), pooled and streamed values there, also into a missing directory, and leaves no temp file", async () => {
    const { backend, base, other } = await crossDevice();
    const small = bytes(100, 1);
    const pooled = bytes(200 * 1024, 2);
    const streamed = bytes(300 * 1024, 3);
    await backend.store("far/small", small);
    await backend.store("far/pooled", pooled);
    await backend.storeStream("far/streamed", chunks(streamed.subarray(0, 1000), streamed.subarray(1000)));
    await backend.store("far/new/small", small);
    await backend.store("far/newer/pooled", pooled);
    await backend.storeStream("far/newest/streamed", chunks(streamed));
    await expectValue(backend, "far/small", small);
    await expectValue(backend, "far/pooled", pooled);
    await expectValue(backend, "far/streamed", streamed);
    await expectValue(backend, "far/new/small", small);
    await expectValue(backend, "far/newer/pooled", pooled);
    await expectValue(backend, "far/newest/streamed", streamed);
    // Overwrites replace the value there too.
    await backend.store("far/small", pooled);
    await expectValue(backend, "far/small", pooled);
    await expectOnly(base, other, ["small", "pooled", "streamed", "new/small", "newer/pooled", "newest/streamed"]);
    await backend.close();
  });

  it("with fsync on, and without synchronous writes, too", async () => {
    for (const options of [{ fsync: true }, { syncWrites: false }]) {
      const { backend, base, other } = await crossDevice(options);
      const value = bytes(5000, 4);
      await backend.store("far/a", value);
      await backend.store("far/dir/b", value);
      await backend.storeStream("far/c", chunks(value));
      await expectValue(backend, "far/a", value);
      await expectValue(backend, "far/dir/b", value);
      await expectValue(backend, "far/c", value);
      await expectOnly(base, other, ["a", "dir/b", "c"]);
      await backend.close();
    }
  });

  it("a failed copy (a directory under the name) leaves no temp file on either side", async () => {
    const { backend, base, other } = await crossDevice();
    mkdirSync(join(other, "taken"));
    mkdirSync(join(other, "taken", "inside"));
    for (let round = 0; round < 3; round++) {
      for (const value of [bytes(10, 5), bytes(200 * 1024, 6)]) await expect(backend.store("far/taken", value)).rejects.toThrow();
      await expect(backend.storeStream("far/taken", chunks(bytes(10, 7)))).rejects.toThrow();
    }
    expect(await openFilesBelow(base, other)).toEqual([]);
    expect(readdirSync(other)).toEqual(["taken"]);
    expect(readdirSync(join(other, "taken"))).toEqual(["inside"]);
    await expectOnly(base, other, []);
    await backend.close();
  });

  it("failed stores on the same filesystem (a directory under the name, a failing source) leave no temp file and no descriptor open", async () => {
    for (const options of [{}, { syncWrites: false }]) {
    const { backend, base } = await crossDevice(options);
    mkdirSync(join(base, "taken", "inside"), { recursive: true });
    for (let i = 0; i < 3; i++) {
      await expect(backend.store("taken", bytes(10, i))).rejects.toThrow();
      await expect(backend.storeStream("taken", chunks(bytes(10, i)))).rejects.toThrow();
      const failing = (async function* () {
        yield bytes(10, i);
        throw new Error("source failed");
      })();
      await expect(backend.storeStream(`fails${i}`, failing)).rejects.toThrow("source failed");
    }
    expect(await openFilesBelow(base)).toEqual([]);
    expect(uploadsEntries(base)).toEqual([]);
    await backend.close();
    expect(existsSync(join(base, "uploads.hid"))).toBe(false);
    }
  });
});
