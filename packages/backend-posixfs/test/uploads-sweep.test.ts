import { closeSync, constants, openSync } from "node:fs";
import { mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { afterEach, describe, expect, it } from "vitest";
import { bytes, createdBase, text } from "./helpers.js";

// Temp files that hold a flock of their own (quota.hid's, see Uploads.createAlone): a writer killed
// mid-write leaves one unlocked; a live writer holds an exclusive flock on it. Here such files are
// left in this process (kill-mid-write.test.ts kills a real writer), so that the sweep at open runs
// where mutation testing sees it. Values' temp files belong to their session's owner lock instead:
// owner-lock.test.ts.

const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as { flockSync: (fd: number, flags: string) => void };
const held: number[] = [];
afterEach(() => {
  for (const fd of held.splice(0)) closeSync(fd);
});

async function reopen(base: string): Promise<PosixFsBackend> {
  const backend = new PosixFsBackend({ path: base });
  await backend.open();
  return backend;
}

describe("posixfs sweeps uploads.hid at open", () => {
  it("removes a temp file no writer holds, keeps one a live writer holds, and leaves a directory there alone", async () => {
    const base = await createdBase();
    const uploads = join(base, "uploads.hid");
    await mkdir(uploads);
    await writeFile(join(uploads, "tmpdeadbeef.tmp"), bytes(300));
    await writeFile(join(uploads, "tmpliveone1.tmp"), bytes(200));
    const fd = openSync(join(uploads, "tmpliveone1.tmp"), constants.O_RDONLY);
    held.push(fd);
    flockSync(fd, "exnb");
    await mkdir(join(uploads, "subdir"));
    await symlink("/nonexistent", join(uploads, "dangling"));
    const backend = await reopen(base);
    expect((await readdir(uploads)).sort()).toEqual(["dangling", "subdir", "tmpliveone1.tmp"]);
    await backend.close();
  });

  it("the check report tells orphaned from live uploads without removing anything until repair", async () => {
    const base = await createdBase();
    const uploads = join(base, "uploads.hid");
    await mkdir(uploads);
    const backend = await reopen(base);
    await writeFile(join(uploads, "tmporphan01.tmp"), bytes(30));
    await writeFile(join(uploads, "tmplivetwo2.tmp"), bytes(20));
    const fd = openSync(join(uploads, "tmplivetwo2.tmp"), constants.O_RDONLY);
    held.push(fd);
    flockSync(fd, "exnb");
    const report = await backend.checkFiles({ tempMaxAge: 0 });
    expect(report.findings).toContainEqual(expect.objectContaining({ path: "uploads.hid/tmporphan01.tmp", size: 30, removed: false }));
    expect(report.findings.some((f) => f.path === "uploads.hid/tmplivetwo2.tmp" && f.problem === "orphaned temp file")).toBe(false);
    expect((await readdir(uploads)).sort()).toEqual(["tmplivetwo2.tmp", "tmporphan01.tmp"]);
    await backend.close();
  });

  it("a store still works while a dead writer's upload and a live one's lie in uploads.hid, and close leaves the live one", async () => {
    const base = await createdBase();
    const backend = await reopen(base);
    const uploads = join(base, "uploads.hid");
    await mkdir(uploads, { recursive: true });
    await writeFile(join(uploads, "tmplivethr3.tmp"), bytes(10));
    const fd = openSync(join(uploads, "tmplivethr3.tmp"), constants.O_RDONLY);
    held.push(fd);
    flockSync(fd, "exnb");
    await backend.store("big", new Uint8Array(1024 * 1024).fill(7));
    await backend.storeStream("streamed", (async function* () {
      yield text("abc");
    })());
    expect(await backend.load("streamed")).toEqual(text("abc"));
    await backend.close();
    expect(await readdir(uploads)).toEqual(["tmplivethr3.tmp"]);
  });
});
