import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { PosixFsBackend } from "../src/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function newBase(): string {
  const dir = mkdtempSync(`${tmpdir()}/owner-lock-bl-`);
  dirs.push(dir);
  return `${dir}/store`;
}

const bytes = (...values: number[]) => new Uint8Array(values);

describe("posixfs upload owner: breaker BL", () => {
  // syncWrites false: the temp file's create is awaited, and close() runs during that await.
  it("a store whose temp file is being created when close() is called succeeds, and the closed store leaves no uploads.hid", async () => {
    const base = newBase();
    const backend = new PosixFsBackend(base, { syncWrites: false });
    await backend.create();
    await backend.open();
    await backend.store("a", bytes(1));
    const inFlight = backend.store("b", bytes(2));
    const closing = backend.close();
    const [stored, closed] = await Promise.allSettled([inFlight, closing]);
    expect(closed.status).toBe("fulfilled");
    expect(stored).toEqual({ status: "fulfilled", value: undefined });
    expect(readdirSync(base).sort()).toEqual(["a", "b"]);
  });

  it("close() with a store in flight does not let go of another session's lock: that session's upload survives a sweep", async () => {
    const base = newBase();
    const closing = new PosixFsBackend(base, { syncWrites: false });
    await closing.create();
    await closing.open();
    const other = new PosixFsBackend(base, { syncWrites: false });
    await other.open();
    await closing.store("a", bytes(1));
    const inFlight = closing.store("b", bytes(2));
    const closed = closing.close();
    // The other session claims its owner now: its lock file gets the lowest free descriptor, the one close() just freed.
    let resume = () => {};
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    async function* source() {
      yield bytes(3);
      await paused;
      yield bytes(4);
    }
    const streaming = other.storeStream("c", source());
    await Promise.allSettled([inFlight, closed]);
    // A third session's open sweeps uploads.hid while the other session's upload waits for its source.
    const sweeper = new PosixFsBackend(base);
    await sweeper.open();
    await sweeper.close();
    resume();
    await expect(streaming).resolves.toBeUndefined();
    expect(await other.load("c")).toEqual(bytes(3, 4));
    await other.close();
  });

  it("a directory planted in uploads.hid under a lock file's name does not make open() fail", async () => {
    const base = newBase();
    const backend = new PosixFsBackend(base);
    await backend.create();
    mkdirSync(`${base}/uploads.hid/0123456789abcdef.lock`, { recursive: true });
    writeFileSync(`${base}/uploads.hid/0123456789abcdef.tmpabcdefgh.tmp`, "left by a dead writer");
    await backend.open();
    await backend.store("x", bytes(1));
    await backend.close();
    expect(readdirSync(`${base}/uploads.hid`)).toEqual(["0123456789abcdef.lock"]);
  });

  for (const planted of ["tmpabcdefgh.tmp", "0123456789abcdef.lock", "a-symlink-to-a-fifo"]) {
    it(`a FIFO planted in uploads.hid (${planted}) does not hang open()`, async () => {
      const base = newBase();
      const backend = new PosixFsBackend(base);
      await backend.create();
      mkdirSync(`${base}/uploads.hid`);
      const fifo = planted.startsWith("a-symlink") ? `${base}.fifo` : `${base}/uploads.hid/${planted}`;
      execFileSync("mkfifo", [fifo]);
      if (fifo !== `${base}/uploads.hid/${planted}`) symlinkSync(fifo, `${base}/uploads.hid/${planted}`);
      const opened = backend.open().then(() => "opened");
      const outcome = await Promise.race([opened, sleep(3000).then(() => "hung")]);
      if (outcome === "hung") {
        // A reader blocked in open(2) holds a thread-pool thread (and the process's exit): a writer lets it go.
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        await opened.catch(() => undefined);
      }
      expect(outcome).toBe("opened");
      await backend.close();
    });
  }

  it("a symlink planted as uploads.hid does not let open() or checkFiles remove files outside the store", async () => {
    const base = newBase();
    const backend = new PosixFsBackend(base);
    await backend.create();
    const elsewhere = `${base}.elsewhere`;
    mkdirSync(elsewhere);
    writeFileSync(`${elsewhere}/precious.txt`, "not the store's");
    writeFileSync(`${elsewhere}/tmpabcdefgh.tmp`, "not the store's either");
    symlinkSync(elsewhere, `${base}/uploads.hid`);
    await expect(backend.open()).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    await expect(backend.checkFiles({ repair: true })).rejects.toMatchObject({ code: "BACKEND_ERROR" });
    expect(readdirSync(elsewhere).sort()).toEqual(["precious.txt", "tmpabcdefgh.tmp"]);
    expect(readdirSync(base)).toEqual(["uploads.hid"]);
  });

  it("with a quota, a store still on its way when close() runs is either counted in quota.hid or not made", async () => {
    const base = newBase();
    const backend = new PosixFsBackend(base, { quota: 1_000_000_000 });
    await backend.create();
    const settled: Promise<unknown>[] = [];
    for (let round = 0; round < 20; round++) {
      await backend.open();
      settled.push(backend.store(`v${round}`, new Uint8Array(100 + round)).catch(() => undefined));
      async function* source() {
        yield new Uint8Array(1000 + round);
      }
      settled.push(backend.storeStream(`s${round}`, source()).catch(() => undefined));
      await backend.close();
    }
    await Promise.all(settled);
    const stored = readdirSync(base)
      .filter((name) => !name.endsWith(".hid"))
      .reduce((sum, name) => sum + statSync(`${base}/${name}`).size, 0);
    expect(Number(readFileSync(`${base}/quota.hid`, "utf8"))).toBe(stored);
  });
});
