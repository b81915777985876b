import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { fsyncedPathsDuring } from "./fsync-observer.js";
import { OWNER_LOCK, bytes, openBackend, text } from "./helpers.js";

// atomic-file.ts's paths the other tests left unchecked (found by mutation testing,
// docs/mutation-testing.md): fsync only when asked on every write path, the directory descriptor
// an fsync opens is closed again, and a streamed store creates all of its missing directories.

/** This process's descriptors open on `dir` itself or on anything below it (an open session's lock file left out). */
function openOn(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if ((target === dir || target.startsWith(`${dir}/`)) && !OWNER_LOCK.test(target)) open.push(target);
    } catch {} // closed meanwhile (readdir's own descriptor)
  }
  return open;
}

async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

const others: string[] = [];
afterAll(() => {
  for (const dir of others) rmSync(dir, { recursive: true, force: true });
});

describe("posixfs atomic writes", () => {
  it("without fsync, stores through the thread pool (syncWrites: false) fsync nothing, a value copied across filesystems neither", async () => {
    const backend = await openBackend({ syncWrites: false });
    const plain = await openBackend();
    const other = mkdtempSync("/dev/shm/borgstore-posixfs-");
    others.push(other);
    symlinkSync(other, join(plain.base, "far"));
    const synced = await fsyncedPathsDuring(async () => {
      await backend.store("ns/key", text("pooled"));
      await backend.storeStream("ns/streamed", chunks(text("pooled too")));
      await plain.storeStream("far/streamed", chunks(text("copied")));
    });
    expect(synced).toEqual([]);
    expect(await plain.load("far/streamed")).toEqual(text("copied"));
    await backend.close();
    await plain.close();
  });

  it("with fsync, a store leaves no descriptor open on the store's files or directories", async () => {
    const backend = await openBackend({ fsync: true });
    await backend.store("ns/key", bytes(10));
    await backend.storeStream("ns/streamed", chunks(bytes(10)));
    expect(openOn(backend.base)).toEqual([]);
    await backend.close();
  });

  it.each([true, false])("a streamed store creates every missing directory above its name (syncWrites: %s)", async (syncWrites) => {
    const backend = await openBackend({ syncWrites });
    await backend.storeStream("a/b/c/key", chunks(text("deep")));
    expect(await backend.load("a/b/c/key")).toEqual(text("deep"));
    await backend.close();
  });
});

/** Files below `dir` whose names are temp names (a store's leftovers), uploads.hid included. */
function tempFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => p.endsWith(".tmp"));
}

describe("posixfs streamed stores gather small chunks into large writes", () => {
  it.each([true, false])("stores 64 KiB chunks and odd-sized ones byte for byte, across many gathered writes (syncWrites: %s)", async (syncWrites) => {
    const backend = await openBackend({ syncWrites });
    const value = randomBytes(5 * 1024 * 1024 + 4321);
    const sizes = [1, 65536, 7, 65536, 300_000, 65536, 3];
    async function* pieces(): AsyncIterable<Uint8Array> {
      for (let at = 0, i = 0; at < value.byteLength; i++) {
        const end = Math.min(value.byteLength, at + (sizes[i % sizes.length] as number));
        yield value.subarray(at, end);
        at = end;
      }
    }
    await backend.storeStream("ns/big", pieces(), { size: value.byteLength });
    expect(Buffer.from(await backend.load("ns/big")).equals(value)).toBe(true);
    expect(tempFiles(backend.base)).toEqual([]);
  });

  it("a source that fails while a gathered write may be in flight stores nothing, leaves no temp file and no descriptor", async () => {
    const backend = await openBackend();
    const chunk = new Uint8Array(64 * 1024).fill(5);
    async function* failing(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 3 * 16 + 5; i++) {
        yield chunk;
        if (i % 16 === 15) await new Promise((r) => setImmediate(r));
      }
      throw new Error("client went away");
    }
    await expect(backend.storeStream("ns/cut", failing())).rejects.toThrow("client went away");
    await expect(backend.load("ns/cut")).rejects.toMatchObject({ code: "OBJECT_NOT_FOUND" });
    expect(tempFiles(backend.base)).toEqual([]);
    // The temp file's lock descriptor is closed without waiting (closeQuietly).
    await vi.waitFor(() => expect(openOn(backend.base)).toEqual([]));
  });
});
