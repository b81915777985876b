import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { bytes, bytesOnDisk, newBackend } from "./helpers.js";

async function quotaStore(limit: number): Promise<PosixFsBackend> {
  const created = newBackend();
  await created.create();
  const backend = new PosixFsBackend({ path: created.base, quota: limit });
  await backend.open();
  return backend;
}

const usage = async (backend: PosixFsBackend) => (await backend.quota()).usage;

describe("posixfs quota: moves", () => {
  it("a store racing a move of the same name is counted exactly, and the disk never exceeds the limit", async () => {
    const LIMIT = 1_000_000;
    const SIZE = 100_000;
    const backend = await quotaStore(LIMIT);
    await backend.mkdir("ns");
    for (let round = 0; round < 150; round++) {
      const [stored] = await Promise.allSettled([backend.store("ns/b", bytes(SIZE)), backend.move("ns/b", `ns/c${round}`)]);
      if (stored.status === "rejected") {
        const victim = readdirSync(join(backend.base, "ns")).find((name) => name.startsWith("c"));
        if (victim) await backend.delete(`ns/${victim}`);
      }
      expect(bytesOnDisk(backend.base), `round ${round}`).toBeLessThanOrEqual(LIMIT);
    }
    expect(await usage(backend)).toBe(bytesOnDisk(backend.base));
    await backend.close();
  });

  it("a store of the target racing a move onto it is counted exactly", async () => {
    const backend = await quotaStore(10_000_000);
    for (let round = 0; round < 100; round++) {
      await backend.store("a", bytes(1000 + round));
      await Promise.allSettled([backend.store("b", bytes(5000)), backend.move("a", "b"), backend.delete("b")]);
      expect(await usage(backend), `round ${round}`).toBe(bytesOnDisk(backend.base));
    }
    await backend.close();
  });

  it("moves between two names in both directions at once neither deadlock nor miscount", async () => {
    const backend = await quotaStore(10_000_000);
    await backend.store("x", bytes(300));
    await backend.store("y", bytes(700));
    const moves = [];
    for (let i = 0; i < 50; i++) moves.push(backend.move("x", "y"), backend.move("y", "x"), backend.store("x", bytes(i)));
    await Promise.allSettled(moves);
    expect(await usage(backend)).toBe(bytesOnDisk(backend.base));
    await backend.close();
  });

  it("moving onto an existing object credits the replaced bytes", async () => {
    const backend = await quotaStore(1_000_000);
    for (let round = 0; round < 5; round++) {
      await backend.store("a", bytes(300_000));
      await backend.store("b", bytes(300_000));
      await backend.move("a", "b");
      expect(await usage(backend)).toBe(300_000);
    }
    await backend.store("c", bytes(600_000));
    expect(await usage(backend)).toBe(900_000);
    await backend.close();
    const reopened = new PosixFsBackend({ path: backend.base, quota: 1_000_000 });
    await reopened.open();
    expect(await usage(reopened)).toBe(900_000);
    await reopened.close();
  });

  it("a move onto itself or of a missing name changes nothing", async () => {
    const backend = await quotaStore(1_000_000);
    await backend.store("a", bytes(100));
    await backend.move("a", "a");
    await expect(backend.move("missing", "a")).rejects.toMatchObject({ code: "OBJECT_NOT_FOUND" });
    expect(await usage(backend)).toBe(100);
    expect(existsSync(join(backend.base, "a"))).toBe(true);
    await backend.close();
  });
});
