import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, open } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bytes, openBackend, tempDir } from "./helpers.js";

// A lone delete runs on the main thread; while other deletes are in flight, unlinks go to the
// thread pool, so several run side by side (issue 15: 16 concurrent deletes lost a fifth to a
// half of their throughput when each unlink ran on the main thread after the other).

/**
 * Holds every thread of libuv's pool until `release()`: each waits in a read-open of its own FIFO
 * for a writer. Pool work queued meanwhile waits behind them.
 */
function holdThreadPool(): { release(): Promise<void> } {
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const dir = tempDir();
  const fifos = Array.from({ length: size }, (_, i) => join(dir, `fifo-${i}`));
  execFileSync("mkfifo", fifos);
  const opened = fifos.map(
    (fifo) =>
      new Promise<void>((resolve) =>
        open(fifo, "r", (err, fd) => {
          if (!err) closeSync(fd);
          resolve();
        }),
      ),
  );
  return {
    async release() {
      // A writer for each FIFO, blocking until its reader is there (whenever its open gets a thread).
      spawn("sh", ["-c", 'for f in "$@"; do : > "$f"; done', "sh", ...fifos], { stdio: "ignore" });
      await Promise.all(opened);
    },
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("PosixFsBackend delete with other deletes in flight", () => {
  it("unlinks in the thread pool while other deletes are in flight, a lone delete at once", async () => {
    const backend = await openBackend();
    const names = Array.from({ length: 6 }, (_, i) => [`large${i}`, `small${i}`]).flat();
    for (const name of ["lone", ...names]) await backend.store(name, bytes(name.startsWith("small") ? 10 : 4 * 1024 * 1024));
    const pool = holdThreadPool();
    let deletes: Promise<void>[] = [];
    try {
      // Needs no thread: it would wait for the held pool otherwise.
      await backend.delete("lone");
      deletes = names.map((name) => backend.delete(name));
      await nextTurn();
      // The first delete had none beside it; the others, of any size, wait for the pool.
      expect(names.filter((name) => existsSync(join(backend.base, name)))).toEqual(names.slice(1));
    } finally {
      await pool.release();
    }
    await Promise.all(deletes);
    expect(names.filter((name) => existsSync(join(backend.base, name)))).toEqual([]);
    await backend.close();
  });

  it("fails as a lone delete does, and leaves later lone deletes on the main thread", async () => {
    const backend = await openBackend();
    mkdirSync(join(backend.base, "dir"));
    await backend.store("large", bytes(1024 * 1024));
    await backend.store("small", bytes(10));
    const codeOf = (p: Promise<unknown>) => p.then(() => "deleted", (err: { code?: string }) => err.code);
    const alone = [await codeOf(backend.delete("missing")), await codeOf(backend.delete("dir"))];
    const together = await Promise.all(["large", "missing", "dir", "small"].map((name) => codeOf(backend.delete(name))));
    expect(together).toEqual(["deleted", alone[0], alone[1], "deleted"]);
    expect(alone).toEqual(["OBJECT_NOT_FOUND", expect.any(String)]);
    // Two pooled unlinks of one file: one finds it gone.
    await backend.store("small", bytes(10));
    await backend.store("large", bytes(1024 * 1024));
    const raced = await Promise.all(["small", "large", "large"].map((name) => codeOf(backend.delete(name))));
    expect(raced.sort()).toEqual(["OBJECT_NOT_FOUND", "deleted", "deleted"]);
    // Every delete above has ended and counts no more: a lone delete of a large file needs no thread.
    await backend.store("large", bytes(1024 * 1024));
    const pool = holdThreadPool();
    try {
      await backend.delete("large");
      expect(existsSync(join(backend.base, "large"))).toBe(false);
    } finally {
      await pool.release();
    }
    await backend.close();
  });
});
