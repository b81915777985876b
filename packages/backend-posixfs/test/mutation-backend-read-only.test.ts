import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { bytes, openBelow, uploadsOf } from "./helpers.js";
import { smallTmpfs, tmpfsAvailable } from "./small-tmpfs.js";

// A store on a read-only filesystem (a tmpfs mounted in a temp directory, then remounted
// read-only): EROFS, which the backend's open passes over when it cannot sweep uploads.hid.

const mounted = tmpfsAvailable;
const mountPoint = mounted ? smallTmpfs(1024) : "";

function remount(mode: "ro" | "rw"): void {
  const run = spawnSync("mount", ["-o", `remount,${mode}`, mountPoint], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`remount ${mode} failed: ${run.stderr}`);
}

describe.skipIf(!mounted)("posixfs on a read-only filesystem (EROFS)", () => {
  it("open leaves an orphaned temp file it cannot remove, and the store still reads", async () => {
    const base = join(mountPoint, "store");
    const backend = new PosixFsBackend({ path: base });
    await backend.create();
    await backend.open();
    await backend.store("x", bytes(10));
    await backend.close();
    mkdirSync(uploadsOf(base), { recursive: true });
    writeFileSync(join(uploadsOf(base), "0123456789abcdef.tmpabcdefgh.tmp"), "left by a killed writer");
    remount("ro");
    try {
      await backend.open();
      expect((await backend.load("x")).byteLength).toBe(10);
      await backend.close();
    } finally {
      remount("rw");
    }
    expect(readdirSync(uploadsOf(base))).toEqual(["0123456789abcdef.tmpabcdefgh.tmp"]);
    expect(openBelow(base)).toEqual([]);
  });
});
