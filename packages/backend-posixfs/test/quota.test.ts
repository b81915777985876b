import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { QuotaExceeded } from "@borgstore/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bytes, listNames, newBackend, tempDir } from "./helpers.js";

const LIMIT = 1000;

/** Opens the store at `path` with a quota (null: without one). */
async function quotaOpen(path: string, quota: number | null = LIMIT): Promise<PosixFsBackend> {
  const backend = new PosixFsBackend({ path, quota: quota ?? undefined });
  await backend.open();
  return backend;
}

async function createdPath(): Promise<string> {
  const backend = newBackend();
  await backend.create();
  return backend.base;
}

const usage = async (backend: PosixFsBackend) => (await backend.quota()).usage;
const quotaFile = (path: string) => readFile(join(path, "quota.hid"), "latin1");
const exists = (path: string) => stat(path).then(() => true, () => false);

describe("posixfs quota tracking", () => {
  it("store adds the size, delete subtracts it", async () => {
    const backend = await quotaOpen(await createdPath());
    expect(await backend.quota()).toEqual({ limit: LIMIT, usage: 0 });
    await backend.store("a", bytes(100));
    expect(await usage(backend)).toBe(100);
    await backend.delete("a");
    expect(await usage(backend)).toBe(0);
    await backend.close();
  });

  it("counts typed-array views in bytes, also for overwrites", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("a", new Uint32Array(16));
    expect(await usage(backend)).toBe(64);
    await backend.store("a", new Uint32Array(4));
    expect(await usage(backend)).toBe(16);
    await backend.close();
  });

  it("an overwrite changes usage by the size difference", async () => {
    const backend = await quotaOpen(await createdPath());
    for (const [size, expected] of [[100, 100], [250, 250], [50, 50]] as const) {
      await backend.store("a", bytes(size));
      expect(await usage(backend)).toBe(expected);
    }
    await backend.close();
  });

  it("sums several objects and subtracts deleted ones", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("a", bytes(100));
    await backend.store("ns/b", bytes(200));
    await backend.store("ns/c", bytes(300));
    expect(await usage(backend)).toBe(600);
    await backend.delete("ns/b");
    expect(await usage(backend)).toBe(400);
    await backend.move("ns/c", "d");
    expect(await usage(backend)).toBe(400);
    await backend.close();
  });
});

describe("posixfs quota enforcement", () => {
  it("allows a store that reaches the limit exactly", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("a", bytes(LIMIT));
    expect(await usage(backend)).toBe(LIMIT);
    await backend.close();
  });

  it("rejects a store beyond the limit with 'Quota exceeded: NEW > LIMIT' and keeps usage", async () => {
    const backend = await quotaOpen(await createdPath());
    await expect(backend.store("a", bytes(1001))).rejects.toThrow(new QuotaExceeded("Quota exceeded: 1001 > 1000"));
    expect(await usage(backend)).toBe(0);
    expect(await listNames(backend)).toEqual([]);
    await backend.close();
    expect(await readdir(backend.base)).toEqual(["quota.hid"]);
  });

  it("rejects when the sum exceeds the limit", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("a", bytes(600));
    await expect(backend.store("b", bytes(500))).rejects.toBeInstanceOf(QuotaExceeded);
    expect(await usage(backend)).toBe(600);
    await backend.close();
  });

  it("rejects an overwrite that grows beyond the limit and keeps the old value", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("a", bytes(500));
    await backend.store("b", bytes(400));
    await expect(backend.store("a", bytes(700))).rejects.toBeInstanceOf(QuotaExceeded);
    expect(await usage(backend)).toBe(900);
    expect((await backend.info("a")).size).toBe(500);
    await backend.close();
  });

  it("a shrinking overwrite frees room for new objects", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("a", bytes(900));
    await backend.store("a", bytes(100));
    await backend.store("b", bytes(800));
    expect(await usage(backend)).toBe(900);
    await backend.close();
  });

  it("quota 0 is a real limit", async () => {
    const backend = await quotaOpen(await createdPath(), 0);
    await backend.store("empty", new Uint8Array(0));
    await expect(backend.store("a", bytes(1))).rejects.toThrow("Quota exceeded: 1 > 0");
    await backend.close();
  });

  it("checks a streamed store before the rename: nothing visible and no temp file left", async () => {
    const backend = await quotaOpen(await createdPath());
    await backend.store("ns/a", bytes(600));
    async function* source() {
      yield bytes(300);
      yield bytes(300);
    }
    await expect(backend.storeStream("ns/b", source())).rejects.toThrow("Quota exceeded: 1200 > 1000");
    expect(await readdir(join(backend.base, "ns"))).toEqual(["a"]);
    expect(await usage(backend)).toBe(600);
    await backend.close();
  });

  it("without a quota: any size, no tracking, quota() is -1/-1", async () => {
    const backend = await quotaOpen(await createdPath(), null);
    await backend.store("big", bytes(100_000));
    expect(await backend.quota()).toEqual({ limit: -1, usage: -1 });
    await backend.close();
  });

  it("concurrent overwrites and deletes of one name leave usage equal to what is on disk", async () => {
    const backend = await quotaOpen(await createdPath(), 100_000);
    await Promise.all(Array.from({ length: 20 }, (_, i) => backend.store("same", bytes(100 + i * 37))));
    expect(await usage(backend)).toBe((await backend.info("same")).size);
    const results = await Promise.allSettled([backend.delete("same"), backend.delete("same"), backend.store("same", bytes(5))]);
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
    const info = await backend.info("same");
    expect(await usage(backend)).toBe(info.exists ? info.size : 0);
    await backend.close();
  });

  it("rejects a negative or fractional quota", () => {
    expect(() => new PosixFsBackend({ path: "/x", quota: -1 })).toThrow(/quota must be a non-negative integer/);
    expect(() => new PosixFsBackend({ path: "/x", quota: 1.5 })).toThrow(/quota must be a non-negative integer/);
  });
});

describe("posixfs quota persistence in quota.hid", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("persists usage at close (decimal, no newline) and reads it back at open", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(123));
    await backend.close();
    expect(await quotaFile(path)).toBe("123");
    const again = await quotaOpen(path);
    expect(await usage(again)).toBe(123);
    await again.close();
  });

  it("keeps usage across several open/close cycles including deletes", async () => {
    const path = await createdPath();
    for (const [op, expected] of [["a", 100], ["b", 300], ["-a", 200]] as const) {
      const backend = await quotaOpen(path);
      if (op.startsWith("-")) await backend.delete(op.slice(1));
      else await backend.store(op, bytes(op === "a" ? 100 : 200));
      expect(await usage(backend)).toBe(expected);
      await backend.close();
    }
    expect(await quotaFile(path)).toBe("200");
  });

  it("does not write a small change before close", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    expect(await quotaFile(path)).toBe("0");
    await backend.store("a", bytes(100));
    expect(await quotaFile(path)).toBe("0");
    await backend.close();
    expect(await quotaFile(path)).toBe("100");
  });

  it("persists once 300 s passed since the last persist", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(100));
    expect(await quotaFile(path)).toBe("0");
    vi.setSystemTime(Date.now() + 299_000);
    await backend.store("b", bytes(1));
    expect(await quotaFile(path)).toBe("0");
    vi.setSystemTime(Date.now() + 1_000);
    await backend.store("c", bytes(1));
    expect(await quotaFile(path)).toBe("102");
    await backend.close();
  });

  it("persists at once after a change of 10,000,000 bytes", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path, 20_000_000);
    await backend.store("small", bytes(10));
    await backend.store("big", bytes(10_000_000));
    expect(await quotaFile(path)).toBe("10000010");
    await backend.delete("big");
    expect(await quotaFile(path)).toBe("10");
    await backend.close();
  });

  it("rescans when quota.hid holds something that is not a number", async () => {
    const path = await createdPath();
    await writeFile(join(path, "a"), bytes(42));
    await writeFile(join(path, "quota.hid"), "garbage");
    const backend = await quotaOpen(path);
    expect(await usage(backend)).toBe(42);
    expect(await quotaFile(path)).toBe("42");
    await backend.close();
  });
});

describe("posixfs quota sentinel file", () => {
  it("no quota.hid after create, open, use and close without a quota", async () => {
    const path = await createdPath();
    expect(await exists(join(path, "quota.hid"))).toBe(false);
    const backend = await quotaOpen(path, null);
    expect(await exists(join(path, "quota.hid"))).toBe(false);
    await backend.store("a", bytes(10));
    await backend.close();
    expect(await exists(join(path, "quota.hid"))).toBe(false);
  });

  it("enabling a quota on existing data scans all files, subdirectories and .del files included", async () => {
    const path = await createdPath();
    const plain = await quotaOpen(path, null);
    await plain.store("a", bytes(100));
    await plain.store("ns/sub/b", bytes(150));
    await plain.store("ns/c.del", bytes(50));
    await plain.close();
    const backend = await quotaOpen(path);
    expect(await usage(backend)).toBe(300);
    expect(await quotaFile(path)).toBe("300");
    await backend.close();
  });

  it("opening without a quota deletes quota.hid; the next quota open rescans (round trip)", async () => {
    const path = await createdPath();
    const tracked = await quotaOpen(path);
    await tracked.store("a", bytes(300));
    await tracked.close();
    expect(await quotaFile(path)).toBe("300");
    const untracked = await quotaOpen(path, null);
    expect(await exists(join(path, "quota.hid"))).toBe(false);
    await untracked.close();
    await writeFile(join(path, "b"), bytes(0));
    const again = await quotaOpen(path);
    expect(await usage(again)).toBe(300);
    await again.store("c", bytes(50));
    await again.close();
    expect(await quotaFile(path)).toBe("350");
  });

  it("enforces the scanned usage", async () => {
    const path = await createdPath();
    const plain = await quotaOpen(path, null);
    await plain.store("a", bytes(800));
    await plain.close();
    const backend = await quotaOpen(path);
    await expect(backend.store("b", bytes(300))).rejects.toThrow("Quota exceeded: 1100 > 1000");
    await backend.close();
  });

  it("quota.hid is hidden from list", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(1));
    expect(await listNames(backend)).toEqual(["a"]);
    await backend.close();
  });
});

describe("posixfs quota shared by several sessions", () => {
  it("two open sessions keep each other's updates", async () => {
    const path = await createdPath();
    const a = await quotaOpen(path);
    const b = await quotaOpen(path);
    await a.store("a", bytes(300));
    await b.store("b", bytes(500));
    await a.close();
    await b.close();
    expect(await quotaFile(path)).toBe("800");
  });

  it("concurrent +500 and -1000 net to 500 on disk", async () => {
    const path = await createdPath();
    const setup = await quotaOpen(path, 10_000);
    await setup.store("old", bytes(1000));
    await setup.close();
    const a = await quotaOpen(path, 10_000);
    const b = await quotaOpen(path, 10_000);
    await a.store("new", bytes(500));
    await b.delete("old");
    await b.close();
    await a.close();
    expect(await quotaFile(path)).toBe("500");
  });

  it("interleaved forced persists accumulate and each session adopts the merged value", async () => {
    const path = await createdPath();
    const a = await quotaOpen(path);
    const b = await quotaOpen(path);
    await a.store("a1", bytes(100));
    await a.persistQuota();
    await b.store("b1", bytes(200));
    await b.persistQuota();
    expect(await usage(b)).toBe(300);
    await a.store("a2", bytes(300));
    await a.persistQuota();
    expect(await usage(a)).toBe(600);
    await a.close();
    await b.close();
    expect(await quotaFile(path)).toBe("600");
  });

  it("many sessions of one process persisting at once neither deadlock nor lose updates", async () => {
    // More sessions than libuv has threads: waiting for the lock must not occupy a thread.
    const path = await createdPath();
    const sessions = await Promise.all(Array.from({ length: 12 }, () => quotaOpen(path, 100_000)));
    await Promise.all(sessions.map((s, i) => s.store(`k${i}`, bytes(10 + i))));
    await Promise.all(sessions.map((s) => s.close()));
    const total = Array.from({ length: 12 }, (_, i) => 10 + i).reduce((a, b) => a + b, 0);
    expect(await quotaFile(path)).toBe(String(total));
  });

  it("many stores in flight in one session are counted exactly and never overshoot the limit", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path, 1000);
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => backend.store(`k${i}`, bytes(100))));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(10);
    expect(await usage(backend)).toBe(1000);
    expect(await listNames(backend)).toHaveLength(10);
    await backend.close();
    expect(await quotaFile(path)).toBe("1000");
  });

  it("several processes opening a store without quota.hid at once, then storing and deleting, leave the exact total", async () => {
    const path = await createdPath();
    const worker = fileURLToPath(new URL("./fixtures/quota-worker.mjs", import.meta.url));
    const workers = [0, 1, 2, 3];
    const runs = workers.map(
      (id) =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, [worker, path, String(id)], { stdio: ["ignore", "pipe", "inherit"] });
          let out = "";
          child.stdout.on("data", (d) => (out += d));
          child.on("error", reject);
          child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`worker ${id} exited ${code}`))));
        }),
    );
    await Promise.all(runs);
    // Each worker stores 40 × (100 + id) bytes, deletes every 4th, persisting after each step.
    const expected = workers.reduce((sum, id) => sum + 30 * (100 + id), 0);
    expect(await quotaFile(path)).toBe(String(expected));
    const check = await quotaOpen(path, 1_000_000);
    expect(await usage(check)).toBe(expected);
    await check.close();
    // Several child processes start here: seconds on a loaded machine.
  }, 30_000);

  it(
    "waits for a flock(1) holder of quota.hid, the lock the Python reference takes",
    async () => {
      // util-linux's flock(1) is on every Debian: missing, this fails rather than skips.
      expect(spawnSync("flock", ["--version"]).status, "flock(1) runs").toBe(0);
      const path = await createdPath();
      const backend = await quotaOpen(path);
      await backend.store("a", bytes(100));
      const marker = join(tempDir(), "released");
      const holder = spawn("flock", [join(path, "quota.hid"), "sh", "-c", `sleep 0.5; touch ${marker}`]);
      const exited = new Promise((r) => holder.on("exit", r));
      await new Promise((r) => setTimeout(r, 150));
      await backend.close();
      expect(await exists(marker)).toBe(true);
      await exited;
      expect(await quotaFile(path)).toBe("100");
    },
  );

  it("a quota.hid missing at persist time is written from this session's usage", async () => {
    const path = await createdPath();
    const backend = await quotaOpen(path);
    await backend.store("a", bytes(10));
    await mkdir(join(path, "ns"));
    await (await import("node:fs/promises")).unlink(join(path, "quota.hid"));
    await backend.close();
    expect(await quotaFile(path)).toBe("10");
  });
});
