import { mkdir, readdir, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bytes, filesBelow, openBackend, text } from "./helpers.js";

const HOUR_AGO = new Date(Date.now() - 2 * 3600 * 1000);

describe("PosixFsBackend.checkFiles", () => {
  it("reports old temp files as orphaned, young ones as in use, and removes only the orphaned ones on repair", async () => {
    const backend = await openBackend();
    await backend.store("data/00/01/0001", text("x"));
    await writeFile(join(backend.base, "data/00/01/tmpabcdefgh.tmp"), bytes(300));
    await utimes(join(backend.base, "data/00/01/tmpabcdefgh.tmp"), HOUR_AGO, HOUR_AGO);
    await writeFile(join(backend.base, "data/00/01/tmpyoungggg.tmp"), bytes(5));
    const report = await backend.checkFiles();
    expect(report.findings).toEqual([
      { path: "data/00/01/tmpabcdefgh.tmp", size: 300, problem: "orphaned temp file", removed: false },
      { path: "data/00/01/tmpyoungggg.tmp", size: 5, problem: "temp file in use", removed: false },
    ]);
    const repaired = await backend.checkFiles({ repair: true });
    expect(repaired.findings[0]).toMatchObject({ path: "data/00/01/tmpabcdefgh.tmp", removed: true });
    expect(await filesBelow(backend.base)).toEqual(["data/00/01/0001", "data/00/01/tmpyoungggg.tmp"]);
    expect((await backend.checkFiles({ tempMaxAge: 0, repair: true })).findings).toMatchObject([{ removed: true }]);
    expect(await filesBelow(backend.base)).toEqual(["data/00/01/0001"]);
    await backend.close();
  });

  it("keeps an upload a live writer holds, even on repair, and removes an unlocked one whatever its age", async () => {
    const backend = await openBackend();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const writing = new Promise<void>((resolve) => (started = resolve));
    const storing = backend.storeStream("ns/key", (async function* () {
      yield bytes(1000);
      started();
      await gate;
      yield bytes(24);
    })());
    await writing;
    await writeFile(join(backend.base, "uploads.hid/tmpdeadbeef.tmp"), bytes(77));
    const report = await backend.checkFiles({ repair: true });
    expect(report.findings).toHaveLength(2);
    expect(report.findings).toContainEqual({ path: "uploads.hid/tmpdeadbeef.tmp", size: 77, problem: "orphaned temp file", removed: true });
    // Its size is what reached the file so far: streamed chunks are gathered into ~1 MiB writes.
    expect(report.findings).toContainEqual(expect.objectContaining({ problem: "temp file in use", removed: false }));
    release();
    await storing;
    expect(await filesBelow(backend.base)).toEqual(["ns/key"]);
    await backend.close();
  });

  it("reports files no implementation writes, but not quota.hid, session journals or objects", async () => {
    const backend = await openBackend({ quota: 10_000 });
    await backend.store("ns/ok", text("x"));
    await writeFile(join(backend.base, "ns/UPPER"), "u");
    await writeFile(join(backend.base, "ns/with blank"), "b");
    await mkdir(join(backend.base, "Weird Dir"));
    await symlink("/etc/passwd", join(backend.base, "ns/link"));
    const report = await backend.checkFiles();
    expect(report.findings.map((f) => [f.path, f.problem])).toEqual([
      ["Weird Dir", "unknown file"],
      ["ns/UPPER", "unknown file"],
      ["ns/link", "not a regular file or directory"],
      ["ns/with blank", "unknown file"],
    ]);
    expect((await readdir(backend.base)).some((n) => n.startsWith("quota-session-"))).toBe(true);
    await backend.close();
  });
});
