import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { bytes, filesBelow, listNames, newBackend, openBackend, openBelow, tempDir } from "./helpers.js";

// What the package's other tests left unchecked (found by mutation testing, docs/mutation-testing.md):
// the defaults, the root as base path, OS errors other than a missing file (a symlink loop gives
// ELOOP, which root cannot be kept from as it can from EACCES), streamed stores under a quota, and
// what a list does between its batches.

async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

const code = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (err: { code?: string }) => err.code,
  );

describe("PosixFsBackend options", () => {
  it("reads and writes small values synchronously by default, and takes a null quota for none", () => {
    const backend = new PosixFsBackend({ path: "/srv/store", quota: null as unknown as undefined });
    expect([backend.syncReads, backend.syncWrites, backend.fsync, backend.quotaLimit]).toEqual([true, true, false, undefined]);
    const off = new PosixFsBackend("/srv/store", { syncReads: false, syncWrites: false });
    expect([off.syncReads, off.syncWrites]).toEqual([false, false]);
  });

  it("keeps the root directory as a base path, and drops trailing slashes of others", () => {
    expect(new PosixFsBackend("/").base).toBe("/");
    expect(new PosixFsBackend("/srv/store//").location).toBe("/srv/store");
  });
});

describe("PosixFsBackend OS errors other than a missing file", () => {
  it("destroy of a missing base is BackendDoesNotExist with the OS error as cause; of a looping one a BackendError", async () => {
    const missing = newBackend();
    const err = await missing.destroy().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "BACKEND_DOES_NOT_EXIST", cause: { code: "ENOENT" } });
    const loop = join(tempDir(), "loop");
    symlinkSync(loop, loop);
    expect(await code(new PosixFsBackend(loop).destroy())).toBe("BACKEND_ERROR");
    expect(await code(new PosixFsBackend(loop).checkFiles())).toBe("BACKEND_ERROR");
  });

  it.each([true, false])("info, list and a quota's size check of a looping symlink fail with BACKEND_ERROR (syncReads: %s)", async (syncReads) => {
    const backend = await openBackend({ syncReads, quota: 1_000_000 });
    symlinkSync(join(backend.base, "loop"), join(backend.base, "loop"));
    expect(await code(backend.info("loop"))).toBe("BACKEND_ERROR");
    expect(await code(listNames(backend))).toBe("BACKEND_ERROR");
    // With a quota, an overwrite first asks the old size: an entry that cannot be stat'ed is not 0 bytes.
    expect(await code(backend.store("loop", bytes(5)))).toBe("BACKEND_ERROR");
    await backend.close();
  });

  it("open fails with BACKEND_ERROR when uploads.hid cannot be read, or quota.hid is a directory", async () => {
    const backend = newBackend({ quota: 1000 });
    await backend.create();
    symlinkSync(join(backend.base, "uploads.hid"), join(backend.base, "uploads.hid"));
    expect(await code(backend.open())).toBe("BACKEND_ERROR");
    rmSync(join(backend.base, "uploads.hid"));
    mkdirSync(join(backend.base, "quota.hid"));
    expect(await code(backend.open())).toBe("BACKEND_ERROR");
  });

  it.each([true, false])("with uploads.hid a regular file, open succeeds and every store fails with BACKEND_ERROR (syncWrites: %s)", async (syncWrites) => {
    const backend = newBackend({ syncWrites });
    await backend.create();
    writeFileSync(join(backend.base, "uploads.hid"), "not a directory");
    await backend.open();
    expect(await code(backend.store("small", bytes(10)))).toBe("BACKEND_ERROR");
    expect(await code(backend.store("large", bytes(100_000)))).toBe("BACKEND_ERROR");
    expect(await code(backend.storeStream("streamed", chunks(bytes(10))))).toBe("BACKEND_ERROR");
    expect(await filesBelow(backend.base)).toEqual(["uploads.hid"]);
    await backend.close();
  });

  it("persistQuota and close report a quota.hid that cannot be written as BACKEND_ERROR; without a quota persistQuota does nothing", async () => {
    const plain = await openBackend();
    await plain.persistQuota();
    await plain.close();
    const backend = await openBackend({ quota: 1000 });
    await backend.store("a", bytes(10));
    rmSync(join(backend.base, "quota.hid"));
    mkdirSync(join(backend.base, "quota.hid"));
    expect(await code(backend.persistQuota())).toBe("BACKEND_ERROR");
    expect(await code(backend.close())).toBe("BACKEND_ERROR");
  });

  // As in the reference, whose rename raises NotADirectoryError there (it maps only FileNotFoundError).
  it("mkdir below a value, rmdir of a value and a move to or from below a value are BACKEND_ERROR, not a missing object", async () => {
    const backend = await openBackend();
    await backend.store("file", bytes(3));
    await backend.store("x", bytes(3));
    expect(await code(backend.mkdir("file/sub"))).toBe("BACKEND_ERROR");
    expect(await code(backend.rmdir("file"))).toBe("BACKEND_ERROR");
    expect(await code(backend.move("x", "file/y"))).toBe("BACKEND_ERROR");
    expect(await code(backend.move("file/y", "z"))).toBe("BACKEND_ERROR");
    expect(await backend.load("x")).toEqual(bytes(3));
    await backend.close();
  });
});

describe("PosixFsBackend streamed stores under a quota", () => {
  it("charges a streamed store and a streamed overwrite by their size difference", async () => {
    const backend = await openBackend({ quota: 1000 });
    await backend.storeStream("a", chunks(bytes(300), bytes(100)));
    expect((await backend.quota()).usage).toBe(400);
    await backend.storeStream("a", chunks(bytes(150)));
    expect((await backend.quota()).usage).toBe(150);
    expect(await backend.load("a")).toEqual(bytes(150));
    await backend.close();
  });

  it("a streamed store the quota refuses leaves no temp file and no descriptor open on one", async () => {
    const backend = await openBackend({ quota: 500 });
    await backend.store("a", bytes(400));
    await expect(backend.storeStream("b", chunks(bytes(200)))).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    expect((await filesBelow(backend.base)).filter((path) => !path.startsWith("quota"))).toEqual(["a"]);
    expect(openBelow(join(backend.base, "uploads.hid"))).toEqual([]);
    await backend.close();
  });
});

describe("PosixFsBackend list and loadStream", () => {
  it("a synchronous list lets the event loop turn once per 256 entries, not before the first", async () => {
    const backend = await openBackend({ syncReads: true });
    for (let i = 0; i < 600; i++) writeFileSync(join(backend.base, `n${String(i).padStart(3, "0")}`), "");
    let seen = 0;
    const turns: number[] = [];
    const watch = () => {
      turns.push(seen);
      if (seen < 600) setImmediate(watch);
    };
    setImmediate(watch);
    for await (const _ of backend.list("")) seen++;
    expect(seen).toBe(600);
    expect(turns.slice(0, 2)).toEqual([256, 512]);
    await backend.close();
  });

  it("a loadStream read to its end closes the file", async () => {
    const backend = await openBackend();
    await backend.store("big", bytes(3 * 1024 * 1024));
    let got = 0;
    for await (const chunk of await backend.loadStream("big")) got += chunk.byteLength;
    expect(got).toBe(3 * 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(openBelow(backend.base)).toEqual([]);
    await backend.close();
  });
});
