import { mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
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
