import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { bytes, bytesOnDisk, newBackend } from "./helpers.js";

const MB = 1_000_000;
const LIMIT = 10 * MB;

async function opened(path: string, quota?: number): Promise<PosixFsBackend> {
  const backend = new PosixFsBackend({ path, quota });
  await backend.open();
  return backend;
}

/** Opens and closes the store without a quota in another process (as `borgstore file://… ls` does). */
function openWithoutQuotaElsewhere(path: string): void {
  const script = `const { PosixFsBackend } = await import("@borgstore/backend-posixfs");
    const b = new PosixFsBackend({ path: process.argv[1] }); await b.open(); await b.close();`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script, path], { cwd: import.meta.dirname, encoding: "utf8" });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
}

describe("posixfs quota: an open without a quota while a quota session lives", () => {
  for (const where of ["another process", "this process"] as const) {
    it(`(${where}) keeps quota.hid and the live session's journal, so that usage stays equal to the bytes on disk`, async () => {
      const created = newBackend();
      await created.create();
      const path = created.base;
      const live = await opened(path, LIMIT);
      for (let i = 0; i < 8; i++) await live.store(`o${i}`, bytes(MB));
      await live.persistQuota();
      for (let i = 0; i < 4; i++) await live.delete(`o${i}`);

      if (where === "another process") openWithoutQuotaElsewhere(path);
      else await (await opened(path)).close();
      expect(existsSync(join(path, "quota.hid"))).toBe(true);

      // Another quota session opening meanwhile must not rescan the bytes `live` deleted but has not persisted.
      await (await opened(path, LIMIT)).close();
      await live.close();
      const after = await opened(path, LIMIT);
      expect(await after.quota()).toEqual({ limit: LIMIT, usage: bytesOnDisk(path) });
      await after.close();
    });
  }

  it("with no live session, an open without a quota still deletes quota.hid and dead sessions' journals", async () => {
    const created = newBackend();
    await created.create();
    const path = created.base;
    const session = await opened(path, LIMIT);
    await session.store("a", bytes(100));
    await session.close();
    expect(existsSync(join(path, "quota.hid"))).toBe(true);
    await (await opened(path)).close();
    expect(readdirSync(path).filter((name) => name.endsWith(".hid"))).toEqual([]);
  });
});
