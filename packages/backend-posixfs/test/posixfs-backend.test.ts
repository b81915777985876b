import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { BackendAlreadyExists, BackendDoesNotExist, BackendError, ObjectNotFound, collectBytes, digest } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { fsyncedPathsDuring } from "./fsync-observer.js";
import { HASH_WHOLE_LIMIT } from "../src/hash-file.js";
import { OWNED_TEMP, bytes, filesBelow, listNames, newBackend, openBackend, tempDir, text } from "./helpers.js";
import { runnableCopy } from "./runnable-copy.js";


describe("PosixFsBackend lifecycle", () => {
  it("rejects a relative base path", () => {
    expect(() => new PosixFsBackend("relative/path")).toThrow(/path must be an absolute path: relative\/path/);
  });

  it("accepts the path as first argument or in the options, and exposes it as location", () => {
    const dir = tempDir();
    expect(new PosixFsBackend(dir).location).toBe(dir);
    expect(new PosixFsBackend({ path: `${dir}/` }).location).toBe(dir);
  });

  it("creates missing parent directories of the base path, then stores", async () => {
    const path = join(tempDir(), "a", "b", "c", "store");
    const backend = new PosixFsBackend({ path });
    await backend.create();
    await backend.open();
    await backend.store("key", text("value"));
    expect(await backend.load("key")).toEqual(text("value"));
    await backend.close();
  });

  it("accepts an existing empty base directory but refuses a non-empty one, with the reference's text", async () => {
    const path = tempDir();
    await new PosixFsBackend(path).create();
    await writeFile(join(path, "quota.hid"), "0");
    const err = await new PosixFsBackend(path).create().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendAlreadyExists);
    expect((err as Error).message).toBe(`posixfs storage base path is not empty: ${path}`);
  });

  it("refuses to open a missing or non-directory base path, with the reference's text", async () => {
    const backend = newBackend();
    await expect(backend.open()).rejects.toThrow(
      new BackendDoesNotExist(`posixfs storage base path does not exist or is not a directory: ${backend.base}`),
    );
    const file = join(tempDir(), "file");
    writeFileSync(file, "x");
    await expect(new PosixFsBackend(file).open()).rejects.toBeInstanceOf(BackendDoesNotExist);
  });

  it("destroys recursively, and a second destroy fails with BackendDoesNotExist", async () => {
    const backend = await openBackend();
    await backend.store("ns/a/b", text("x"));
    await backend.close();
    await backend.destroy();
    await expect(stat(backend.base)).rejects.toThrow();
    await expect(backend.destroy()).rejects.toThrow(
      new BackendDoesNotExist(`posixfs storage base path does not exist: ${backend.base}`),
    );
    await backend.create();
  });

  it("destroy empties an existing base path whose read-only parent keeps it from being removed", async () => {
    const parent = join(tempDir(), "readonly-parent");
    const base = join(parent, "store");
    mkdirSync(base, { recursive: true });
    if (process.getuid?.() !== 0) {
      chmodSync(parent, 0o555);
      try {
        const backend = new PosixFsBackend(base);
        await backend.create();
        await backend.open();
        await backend.store("ns/key", text("value"));
        await backend.close();
        await backend.destroy();
        expect(await readdir(base)).toEqual([]);
      } finally {
        chmodSync(parent, 0o755);
      }
      return;
    }
    // Root ignores mode bits: a child process runs as nobody against a root-owned 0555 parent.
    chownSync(base, 65534, 65534);
    chmodSync(parent, 0o555);
    chmodSync(join(parent, ".."), 0o755);
    // nobody may not enter the checkout (e.g. in a 0700 home): it runs a copy of the build instead.
    const script = join(runnableCopy(), "create-destroy.mjs");
    copyFileSync(fileURLToPath(new URL("./fixtures/create-destroy.mjs", import.meta.url)), script);
    const run = spawnSync(process.execPath, [script, base], { uid: 65534, gid: 65534, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.stdout.trim()).toBe("destroyed");
    expect(await readdir(base)).toEqual([]);
    chmodSync(parent, 0o755);
    // Copying the build and starting node as nobody takes seconds on a busy machine.
  }, 60_000);
});

describe("PosixFsBackend on-disk format", () => {
  // syncWrites: small values are written with synchronous calls (default) or through the thread pool.
  it.each([true, false])("stores each value as a file holding exactly its bytes, mode 0600, at the name's path (syncWrites: %s)", async (syncWrites) => {
    const backend = await openBackend({ syncWrites });
    const value = Uint8Array.from({ length: 256 }, (_, i) => i);
    const large = bytes(64 * 1024 + 1);
    await backend.store("data/00/01/0001", value);
    await backend.store("data/00/02/0002", large);
    await backend.store("config", new Uint8Array(0));
    const file = join(backend.base, "data/00/01/0001");
    expect(new Uint8Array(await import("node:fs/promises").then((fs) => fs.readFile(file)))).toEqual(value);
    expect(await backend.load("data/00/02/0002")).toEqual(large);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(backend.base, "data/00/02/0002"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(backend.base, "config"))).size).toBe(0);
    expect(await filesBelow(backend.base)).toEqual(["config", "data/00/01/0001", "data/00/02/0002"]);
    await backend.close();
  });

  it("a value above the synchronous limit goes through uploads.hid; a failed rename (a directory under the name) leaves no temp file and no lock", async () => {
    const backend = await openBackend();
    const value = bytes(1024 * 1024 + 7);
    await backend.store("ns/big", value);
    expect(Buffer.from(await backend.load("ns/big")).equals(value)).toBe(true);
    await mkdir(join(backend.base, "ns", "dir", "inside"), { recursive: true });
    await expect(backend.store("ns/dir", value)).rejects.toBeInstanceOf(BackendError);
    // Only the session's own lock file stays in uploads.hid while it is open.
    expect(await readdir(join(backend.base, "uploads.hid"))).toEqual([expect.stringMatching(/^[0-9a-f]{16}\.lock$/)]);
    expect(await filesBelow(backend.base)).toEqual(["ns/big"]);
    // The sweep finds nothing held: the failed store let go of its lock.
    await backend.close();
    await backend.open();
    await backend.store("ns/dir2", value);
    expect(await filesBelow(backend.base)).toEqual(["ns/big", "ns/dir2"]);
    await backend.close();
  });

  it("writes a streamed value to a hidden 0600 temp file in uploads.hid (owner id + .tmp + 8 of [a-z0-9_] + .tmp) and renames it when the source ends", async () => {
    const backend = await openBackend();
    await backend.mkdir("ns");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let firstWritten!: () => void;
    const written = new Promise<void>((resolve) => (firstWritten = resolve));
    async function* slowSource() {
      yield bytes(1000);
      firstWritten();
      await gate;
      yield bytes(24);
    }
    const storing = backend.storeStream("ns/key", slowSource());
    await written;
    await new Promise((r) => setTimeout(r, 20));
    const during = (await readdir(join(backend.base, "uploads.hid"))).filter((name) => !name.endsWith(".lock"));
    expect(during).toHaveLength(1);
    expect(during[0]).toMatch(OWNED_TEMP);
    expect((await stat(join(backend.base, "uploads.hid", during[0] as string))).mode & 0o777).toBe(0o600);
    expect(await listNames(backend, "ns")).toEqual([]);
    expect((await backend.info("ns/key")).exists).toBe(false);
    release();
    await storing;
    expect(await filesBelow(backend.base)).toEqual(["ns/key"]);
    expect((await backend.info("ns/key")).size).toBe(1024);
    await backend.close();
  });

  it("removes the temp file and publishes nothing when the streamed source fails", async () => {
    const backend = await openBackend();
    await backend.store("ns/key", text("old"));
    async function* failing() {
      yield bytes(5000);
      throw new Error("source broke");
    }
    await expect(backend.storeStream("ns/key", failing())).rejects.toThrow("source broke");
    expect(await filesBelow(backend.base)).toEqual(["ns/key"]);
    expect(await backend.load("ns/key")).toEqual(text("old"));
    await backend.close();
  });

  it("removes the temp file and publishes nothing when a size check fails at the end of the source", async () => {
    const backend = await openBackend();
    async function* source() {
      yield bytes(10);
    }
    await expect(backend.storeStream("key", source(), { size: 11 })).rejects.toThrow();
    await expect(backend.storeStream("key", source(), { sha256: "0".repeat(64) })).rejects.toThrow();
    expect(await filesBelow(backend.base)).toEqual([]);
    await backend.close();
  });

  it.each([true, false])("removes the temp file when the rename fails (target is a non-empty directory; syncWrites: %s)", async (syncWrites) => {
    const backend = await openBackend({ syncWrites });
    await backend.store("dir/inner", text("x"));
    await expect(backend.store("dir", text("y"))).rejects.toBeInstanceOf(BackendError);
    await expect(backend.store("dir", bytes(100_000))).rejects.toBeInstanceOf(BackendError);
    expect(await filesBelow(backend.base)).toEqual(["dir/inner"]);
    await backend.close();
  });

  it.each([true, false])("creates missing nesting directories on store and move (syncWrites: %s)", async (syncWrites) => {
    const backend = await openBackend({ syncWrites });
    await backend.store("a/b/c/d", text("1"));
    await backend.move("a/b/c/d", "x/y/z");
    expect(await backend.load("x/y/z")).toEqual(text("1"));
    expect((await backend.info("a/b/c/d")).exists).toBe(false);
    await expect(backend.move("missing", "q/r/s")).rejects.toBeInstanceOf(ObjectNotFound);
    await backend.close();
  });

  it("move overwrites the destination", async () => {
    const backend = await openBackend();
    await backend.store("a", text("new"));
    await backend.store("b", text("old"));
    await backend.move("a", "b");
    expect(await listNames(backend)).toEqual(["b"]);
    expect(await backend.load("b")).toEqual(text("new"));
    await backend.close();
  });

  it("with fsync on, store and storeStream fsync the written file and then its directory before they return", async () => {
    const backend = await openBackend({ fsync: true });
    await backend.mkdir("ns");
    const nsDir = join(backend.base, "ns");
    const uploads = join(backend.base, "uploads.hid");
    const isTemp = (path: string) => dirname(path) === uploads || dirname(path) === nsDir;
    for (const store of [
      () => backend.store("ns/key", text("durable")),
      () => backend.storeStream("ns/streamed", (async function* () {
        yield text("durable too");
      })()),
    ]) {
      const synced = await fsyncedPathsDuring(store);
      expect(synced).toHaveLength(2);
      expect(isTemp(synced[0] as string), `first the temp file, got ${synced[0]}`).toBe(true);
      expect(synced[1]).toBe(nsDir);
    }
    expect(await backend.load("ns/key")).toEqual(text("durable"));
    expect(await backend.load("ns/streamed")).toEqual(text("durable too"));
    await backend.close();
  });

  it("with fsync off (the default), stores fsync nothing", async () => {
    const backend = await openBackend();
    const synced = await fsyncedPathsDuring(async () => {
      await backend.store("ns/key", text("fast"));
      await backend.store("ns/big", bytes(200_000));
      await backend.storeStream("ns/streamed", (async function* () {
        yield text("fast too");
      })());
    });
    expect(synced).toEqual([]);
    await backend.close();
  });

  it("mkdir is recursive and idempotent; rmdir removes only empty directories", async () => {
    const backend = await openBackend();
    await backend.mkdir("a/b");
    await backend.mkdir("a/b");
    expect((await backend.info("a/b")).directory).toBe(true);
    await backend.store("a/b/x", text("1"));
    await expect(backend.rmdir("a/b")).rejects.toBeInstanceOf(BackendError);
    await backend.delete("a/b/x");
    await backend.rmdir("a/b");
    await expect(backend.rmdir("a/b")).rejects.toBeInstanceOf(ObjectNotFound);
    await backend.close();
  });
});

describe("PosixFsBackend info, list and load", () => {
  it("reports basename, size, directory and a real atime in seconds", async () => {
    const backend = await openBackend();
    const before = Date.now() / 1000 - 5;
    await backend.store("ns/key", bytes(42));
    const info = await backend.info("ns/key");
    expect(info).toMatchObject({ name: "key", exists: true, size: 42, directory: false });
    expect(info.atime).toBeGreaterThan(before);
    expect(info.atime).toBeLessThan(Date.now() / 1000 + 5);
    expect(await backend.info("ns/missing")).toEqual({ name: "missing", exists: false, size: 0, directory: false, atime: 0 });
    expect(await backend.info("ns")).toMatchObject({ name: "ns", exists: true, directory: true });
    await backend.close();
  });

  it("treats a directory as no object: load and loadStream of it fail with BACKEND_ERROR for every range, an empty one too", async () => {
    const backend = await openBackend();
    await backend.mkdir("ns/dir");
    for (const range of [{}, { offset: 1, size: 0 }, { offset: 0, size: 0 }, { offset: -1 }, { offset: 1, size: 5 }]) {
      await expect(backend.load("ns/dir", range), JSON.stringify(range)).rejects.toBeInstanceOf(BackendError);
      await expect(backend.loadStream("ns/dir", range).then(collectBytes), JSON.stringify(range)).rejects.toBeInstanceOf(BackendError);
    }
    await backend.close();
  });

  it("lists sorted and skips names failing validation (.tmp, .hid, uppercase, blanks, too long)", async () => {
    const backend = await openBackend();
    for (const name of ["b", "a.del", "c", "Upper", "with blank", "x.tmp", "y.hid", "z".repeat(101)])
      await writeFile(join(backend.base, name), "v");
    await mkdir(join(backend.base, "dir"));
    const items = [];
    for await (const item of backend.list("")) items.push(item);
    expect(items.map((i) => i.name)).toEqual(["a.del", "b", "c", "dir"]);
    expect(items.map((i) => i.directory)).toEqual([false, false, false, true]);
    await expect(listNames(backend, "missing")).rejects.toBeInstanceOf(ObjectNotFound);
    await backend.close();
  });

  it.each([true, false])("skips entries that vanish while the list is read (syncReads: %s)", async (syncReads) => {
    const backend = await openBackend({ syncReads });
    const names = Array.from({ length: 600 }, (_, i) => `k${String(i).padStart(3, "0")}`);
    for (const name of names) await writeFile(join(backend.base, name), "v");
    const seen: string[] = [];
    for await (const item of backend.list("")) {
      if (seen.length === 0) await backend.delete("k590");
      seen.push(item.name);
    }
    expect(seen).toEqual(names.filter((n) => n !== "k590"));
    await backend.close();
  });

  it("loads ranges: offset, size, both, negative offset, past the end", async () => {
    const backend = await openBackend();
    const value = Uint8Array.from({ length: 100 }, (_, i) => i);
    await backend.store("v", value);
    expect(await backend.load("v", { offset: 10 })).toEqual(value.subarray(10));
    expect(await backend.load("v", { size: 10 })).toEqual(value.subarray(0, 10));
    expect(await backend.load("v", { offset: 90, size: 20 })).toEqual(value.subarray(90));
    expect(await backend.load("v", { offset: -10, size: 4 })).toEqual(value.subarray(90, 94));
    expect(await backend.load("v", { offset: -10 })).toEqual(value.subarray(90));
    expect(await backend.load("v", { offset: 200 })).toEqual(new Uint8Array(0));
    await expect(backend.load("missing")).rejects.toBeInstanceOf(ObjectNotFound);
    await backend.close();
  });

  it("reads into the caller's buffer when the bytes fit (whole and ranges, small and split large reads, sync and pool reads)", async () => {
    for (const syncReads of [true, false]) {
      const backend = await openBackend({ syncReads });
      for (const size of [0, 1000, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024 + 7]) {
        const value = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 255);
        await backend.store("v", value);
        const into = new Uint8Array(4 * 1024 * 1024);
        for (const options of [{}, { offset: 3 }, { offset: -100, size: 50 }]) {
          const what = `${size} bytes, ${JSON.stringify(options)}, syncReads ${syncReads}`;
          const loaded = await backend.load("v", { ...options, into });
          expect(loaded.buffer, what).toBe(into.buffer);
          expect(loaded.byteOffset, what).toBe(0);
          expect(Buffer.from(loaded).equals(Buffer.from(await backend.load("v", options))), what).toBe(true);
        }
      }
      await backend.close();
    }
  });

  it("reads a whole value into a caller's buffer of exactly its size", async () => {
    for (const syncReads of [true, false]) {
      const backend = await openBackend({ syncReads });
      // Reads in the pool start with 64 KiB before they know the size: a smaller buffer may go unused there.
      for (const size of syncReads ? [1000, 64 * 1024, 3 * 1024 * 1024 + 7] : [64 * 1024, 3 * 1024 * 1024 + 7]) {
        const value = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 255);
        await backend.store("v", value);
        const into = new Uint8Array(size);
        const loaded = await backend.load("v", { into });
        expect(loaded.buffer, `${size} bytes, syncReads ${syncReads}`).toBe(into.buffer);
        expect(Buffer.compare(loaded, value)).toBe(0);
      }
      await backend.close();
    }
  });

  it("streams loads natively with offset, size and negative offset; missing names fail before streaming", async () => {
    const backend = await openBackend();
    const value = Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => i % 251);
    await backend.store("big", value);
    const whole = await collectBytes(await backend.loadStream("big"));
    expect(Buffer.compare(whole, value)).toBe(0);
    expect(await collectBytes(await backend.loadStream("big", { offset: 5, size: 7 }))).toEqual(value.subarray(5, 12));
    expect(await collectBytes(await backend.loadStream("big", { offset: -3 }))).toEqual(value.subarray(value.length - 3));
    expect(await collectBytes(await backend.loadStream("big", { offset: value.length }))).toEqual(new Uint8Array(0));
    await expect(backend.loadStream("missing")).rejects.toBeInstanceOf(ObjectNotFound);
    await backend.close();
  });

  it("tells a stream's whole-value total from the file it opened, even once the name holds a value of another size", async () => {
    const backend = await openBackend();
    await backend.store("t", new Uint8Array(1000).fill(1));
    const slice = await backend.loadStream("t", { offset: -300, size: 100 });
    const empty = await backend.loadStream("t", { offset: 5000 });
    await backend.store("t", new Uint8Array(7000).fill(2));
    expect([slice.size, slice.total, empty.size, empty.total]).toEqual([100, 1000, 0, 1000]);
    expect(await collectBytes(slice)).toEqual(new Uint8Array(100).fill(1));
    await collectBytes(empty);
    await backend.close();
  });

  it.each([true, false])(
    "hashes objects read whole and read piece by piece alike, around the 1 MiB switch (syncReads: %s)",
    async (syncReads) => {
      const { createHash } = await import("node:crypto");
      expect(HASH_WHOLE_LIMIT).toBe(1024 * 1024);
      const backend = await openBackend({ syncReads });
      for (const size of [0, 1, HASH_WHOLE_LIMIT - 1, HASH_WHOLE_LIMIT, HASH_WHOLE_LIMIT + 1, 3 * HASH_WHOLE_LIMIT + 7]) {
        const value = Uint8Array.from({ length: size }, (_, i) => (i * 31 + size) % 256);
        await backend.store("h", value);
        expect(await backend.hash("h"), `sha256 of ${size} B`).toBe(createHash("sha256").update(value).digest("hex"));
        for (const algorithm of ["xxh64", "blake3", "md5"] as const)
          expect(await backend.hash("h", algorithm), `${algorithm} of ${size} B`).toBe(await digest(algorithm, value));
      }
      await backend.close();
    },
  );

  it("hashes many large objects at once, each to its own digest (read buffers are reused between hashes)", async () => {
    const backend = await openBackend();
    const values = Array.from({ length: 8 }, (_, i) => new Uint8Array(3 * HASH_WHOLE_LIMIT + i).fill(i + 1));
    await Promise.all(values.map((value, i) => backend.store(`big${i}`, value)));
    const expected = await Promise.all(values.map((value) => digest("sha256", value)));
    for (let round = 0; round < 2; round++)
      expect(await Promise.all(values.map((_, i) => backend.hash(`big${i}`, i % 2 ? "xxh64" : "sha256")))).toEqual(
        await Promise.all(values.map((value, i) => (i % 2 ? digest("xxh64", value) : expected[i]))),
      );
    await backend.close();
  });

  it.each([true, false])(
    "hashes small objects started one after another, each to its own digest, though they share reused read buffers (syncReads: %s)",
    async (syncReads) => {
      const backend = await openBackend({ syncReads });
      const values = Array.from({ length: 24 }, (_, i) => new Uint8Array(1000 + 997 * i).fill(i + 1));
      for (const [i, value] of values.entries()) await backend.store(`small${i}`, value);
      const algorithms = ["xxh64", "blake3", "sha256", "xxh3"] as const;
      for (let round = 0; round < 3; round++) {
        const hashes: Promise<string>[] = [];
        // Each started a turn after the one before: while a hash's (wasm) digest is still pending,
        // the next one reads; a buffer handed back too early would hold its bytes by then.
        for (const i of values.keys()) {
          hashes.push(backend.hash(`small${i}`, algorithms[i % algorithms.length]));
          await Promise.resolve();
        }
        const expected = await Promise.all(values.map((value, i) => digest(algorithms[i % algorithms.length] as string, value)));
        expect(await Promise.all(hashes)).toEqual(expected);
      }
      await backend.close();
    },
  );

  it.each([true, false])("treats a directory as no object for hash: BACKEND_ERROR (syncReads: %s)", async (syncReads) => {
    const backend = await openBackend({ syncReads });
    await backend.mkdir("ns/dir");
    await expect(backend.hash("ns/dir")).rejects.toBeInstanceOf(BackendError);
    await expect(backend.hash("ns/dir", "xxh64")).rejects.toBeInstanceOf(BackendError);
    await backend.close();
  });

  it("hashes the file, for OpenSSL and wasm algorithms", async () => {
    const backend = await openBackend();
    await backend.store("h", text("hash me"));
    expect(await backend.hash("h", "blake3")).toBe("e02b7e4520e277d4ef287f09c74fec4dd1df095b8b41a4d61dd4ed1589c4a281");
    expect(await backend.hash("h")).toBe(
      (await import("node:crypto")).createHash("sha256").update("hash me").digest("hex"),
    );
    await expect(backend.hash("missing")).rejects.toBeInstanceOf(ObjectNotFound);
    await backend.close();
  });

  it("refuses the internal quota.hid name for every operation", async () => {
    const backend = await openBackend({ quota: 1000 });
    await expect(backend.store("x.hid", text("1"))).rejects.toThrow(/must not end with .hid/);
    await expect(backend.load("quota.hid")).rejects.toThrow(/must not end with .hid/);
    await expect(backend.delete("quota.hid")).rejects.toThrow(/must not end with .hid/);
    await expect(backend.info("quota.hid")).rejects.toThrow(/must not end with .hid/);
    expect(await listNames(backend)).toEqual([]);
    await backend.close();
  });

  it("refuses '.', the root and names under uploads.hid (its temp files, swept at each open) for every item operation", async () => {
    const backend = await openBackend({ quota: 1000 });
    await backend.store("a", text("keep"));
    for (const name of [".", "", "uploads.hid/x", "a/./b", "quota.hid"]) {
      await expect(backend.store(name, text("1")), name).rejects.toMatchObject({ code: "INVALID_NAME" });
      await expect(backend.load(name), name).rejects.toMatchObject({ code: "INVALID_NAME" });
      await expect(backend.delete(name), name).rejects.toMatchObject({ code: "INVALID_NAME" });
      await expect(backend.move("a", name), name).rejects.toMatchObject({ code: "INVALID_NAME" });
    }
    await expect(backend.info(".")).rejects.toMatchObject({ code: "INVALID_NAME" });
    await expect(listNames(backend, "uploads.hid")).rejects.toMatchObject({ code: "INVALID_NAME" });
    expect(await listNames(backend)).toEqual(["a"]);
    await backend.close();
    await backend.open();
    expect(new TextDecoder().decode(await backend.load("a"))).toBe("keep");
    await backend.close();
  });
});
