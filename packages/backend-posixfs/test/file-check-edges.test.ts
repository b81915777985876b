import { closeSync, mkdirSync, openSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bytes, filesBelow, openBackend, openBelow, text } from "./helpers.js";

// checkFiles's edges the other tests left unchecked (found by mutation testing,
// docs/mutation-testing.md): the count of files looked at, bookkeeping names only at the top,
// the default age of an orphan, and a temp file next to its name that a writer holds.

const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as {
  flockSync: (fd: number, flags: "exnb" | "un") => number;
};
const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);

describe("PosixFsBackend.checkFiles edges", () => {
  it("counts the regular files it looked at; skips the bookkeeping names only at the top", async () => {
    const backend = await openBackend({ quota: 10_000 });
    await backend.store("ns/ok", text("x"));
    await backend.store("ns/deeper/ok", text("y"));
    writeFileSync(join(backend.base, "ns", "quota.hid"), "1");
    mkdirSync(join(backend.base, "ns", "uploads.hid"));
    writeFileSync(join(backend.base, "ns", "quota-session-aaaaaaaaaaaa.hid"), "0");
    symlinkSync("/etc/passwd", join(backend.base, "ns", "link"));
    const report = await backend.checkFiles();
    expect(report.findings).toEqual([
      { path: "ns/link", size: 11, problem: "not a regular file or directory", removed: false },
      { path: "ns/quota-session-aaaaaaaaaaaa.hid", size: 1, problem: "unknown file", removed: false },
      { path: "ns/quota.hid", size: 1, problem: "unknown file", removed: false },
      { path: "ns/uploads.hid", size: 0, problem: "unknown file", removed: false },
    ]);
    expect(report.files).toBe(4);
    await backend.close();
  });

  it("checks a store that has no uploads.hid (never written to), and closes every temp file it looked at", async () => {
    const backend = await openBackend();
    expect(await backend.checkFiles()).toEqual({ findings: [], files: 0 });
    await backend.store("ns/key", text("x"));
    writeFileSync(join(backend.base, "uploads.hid", "tmporphaned.tmp"), bytes(2));
    expect((await backend.checkFiles()).findings).toEqual([
      { path: "uploads.hid/tmporphaned.tmp", size: 2, problem: "orphaned temp file", removed: false },
    ]);
    expect(openBelow(backend.base)).toEqual([]);
    await backend.close();
  });

  it("takes a temp file next to its name for orphaned after an hour by default, and never removes one a writer holds", async () => {
    const backend = await openBackend();
    await backend.store("ns/key", text("x"));
    const young = join(backend.base, "ns", "tmpyoungyyy.tmp");
    const old = join(backend.base, "ns", "tmpoldoldol.tmp");
    writeFileSync(young, bytes(3));
    utimesSync(young, ago(1800), ago(1800));
    writeFileSync(old, bytes(4));
    utimesSync(old, ago(7200), ago(7200));
    const held = openSync(old, "r");
    flockSync(held, "exnb");
    try {
      const report = await backend.checkFiles({ repair: true });
      expect(report.findings).toEqual([
        { path: "ns/tmpoldoldol.tmp", size: 4, problem: "orphaned temp file", removed: false },
        { path: "ns/tmpyoungyyy.tmp", size: 3, problem: "temp file in use", removed: false },
      ]);
    } finally {
      closeSync(held);
    }
    expect(openBelow(backend.base)).toEqual([]);
    expect(await filesBelow(backend.base)).toEqual(["ns/key", "ns/tmpoldoldol.tmp", "ns/tmpyoungyyy.tmp"]);
    await backend.close();
  });
});
