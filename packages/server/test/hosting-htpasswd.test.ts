import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { HtpasswdError, HtpasswdFile, HtpasswdTable, PasswordChecker, type ReloadResult } from "../src/hosting/htpasswd.js";

// Debian's apache2-utils (scripts/install-test-servers.sh): the files operators write.
const hasHtpasswd = spawnSync("htpasswd", ["-h"]).error === undefined;
if (!hasHtpasswd) {
  const message = "htpasswd (Debian apache2-utils) is not installed: scripts/install-test-servers.sh installs it";
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING the htpasswd tests: ${message}\n\n`);
}

const dir = mkdtempSync(join(tmpdir(), "borgstore-htpasswd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `htpasswd-${n++}`);

/** `htpasswd ARGS…` as an operator runs it; throws with its stderr on failure. */
function htpasswd(...args: string[]): void {
  const r = spawnSync("htpasswd", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`htpasswd ${args.join(" ")}: ${r.stderr}`);
}

describe("htpasswd lines refused by the parser", () => {
  it("refuses a line without a login before its colon, naming the line", () => {
    const hash = `$2y$05$${"a".repeat(53)}`;
    expect(HtpasswdTable.parse(`alice:${hash}\n`).usualCost).toBe(5);
    expect(() => HtpasswdTable.parse(`alice:${hash}\n:${hash}\n`, "users.htpasswd")).toThrow(new HtpasswdError('users.htpasswd:2: not "login:hash"'));
  });
});

describe("the signed-in header cache", () => {
  it("keeps one header per login up to cacheEntries logins, answering a remembered header at once", async () => {
    const line = (login: string, password: string) => `${login}:${bcrypt.hashSync(password, 4).replace(/^\$2b\$/, "$2y$")}`;
    const basic = (login: string, password: string) => `Basic ${Buffer.from(`${login}:${password}`).toString("base64")}`;
    const checker = new PasswordChecker(HtpasswdTable.parse(`${line("alice", "pw-a")}\n${line("bob", "pw-b")}\n${line("carol", "pw-c")}\n`), {
      cacheEntries: 2,
    });
    try {
      expect(await checker.signIn(basic("alice", "pw-a"))).toBe("alice");
      expect(await checker.signIn(basic("bob", "pw-b"))).toBe("bob");
      // Two logins fit: both answered without a promise.
      expect(checker.signIn(basic("alice", "pw-a"))).toBe("alice");
      expect(checker.signIn(basic("bob", "pw-b"))).toBe("bob");
      // A third takes the place of the oldest remembered one (alice's).
      expect(await checker.signIn(basic("carol", "pw-c"))).toBe("carol");
      expect(checker.signIn(basic("bob", "pw-b"))).toBe("bob");
      expect(checker.signIn(basic("carol", "pw-c"))).toBe("carol");
      const again = checker.signIn(basic("alice", "pw-a"));
      expect(again).toBeInstanceOf(Promise);
      expect(await again).toBe("alice");
    } finally {
      checker.close();
    }
  });
});

describe.runIf(hasHtpasswd)("htpasswd files written by htpasswd -B", () => {
  it("check each login's password, refuse a wrong one and an unknown login", async () => {
    const path = freshPath();
    htpasswd("-B", "-b", "-c", path, "alice", "alice pw");
    htpasswd("-B", "-b", "-C", "8", path, "alice-create", "s3cret:with:colons");
    const checker = new PasswordChecker(await HtpasswdTable.read(path));
    expect(checker.table.size).toBe(2);
    expect(await checker.check("alice", "alice pw")).toBe(true);
    expect(await checker.check("alice-create", "s3cret:with:colons")).toBe(true);
    expect(await checker.check("alice", "alice pw ")).toBe(false);
    expect(await checker.check("alice", "s3cret:with:colons")).toBe(false);
    expect(await checker.check("mallory", "alice pw")).toBe(false);
    expect(await checker.check("", "")).toBe(false);
  });

  it("refuse other hash kinds and malformed lines at once, naming the line", async () => {
    const path = freshPath();
    htpasswd("-B", "-b", "-c", path, "alice", "pw");
    htpasswd("-m", "-b", path, "bob", "pw");
    await expect(HtpasswdTable.read(path)).rejects.toThrow(new RegExp(`${path}:2: the hash of "bob" is not bcrypt`));
    const sha = freshPath();
    htpasswd("-s", "-b", "-c", sha, "carol", "pw");
    await expect(HtpasswdTable.read(sha)).rejects.toBeInstanceOf(HtpasswdError);
    expect(() => HtpasswdTable.parse("# comment\n\nnocolon\n")).toThrow(/htpasswd:3: not "login:hash"/);
    const line = readFileSync(path, "utf8").split("\n")[0] as string;
    expect(() => HtpasswdTable.parse(`${line}\n${line}\n`)).toThrow(/:2: "alice" is listed twice/);
    await expect(HtpasswdTable.read(join(dir, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("remember a success without forgetting a changed password", async () => {
    const path = freshPath();
    htpasswd("-B", "-b", "-C", "10", "-c", path, "alice", "old");
    const checker = new PasswordChecker(await HtpasswdTable.read(path));
    let t = performance.now();
    expect(await checker.check("alice", "old")).toBe(true);
    const first = performance.now() - t;
    t = performance.now();
    expect(await checker.check("alice", "old")).toBe(true);
    const again = performance.now() - t;
    // bcrypt at cost 10 takes tens of ms in JavaScript; a remembered success is a hash lookup.
    expect(again).toBeLessThan(first / 5);
    // Only a success is remembered: a wrong password is compared (and refused) every time.
    expect(await checker.check("alice", "wrong")).toBe(false);
    expect(await checker.check("alice", "wrong")).toBe(false);
    htpasswd("-B", "-b", path, "alice", "new");
    checker.replaceTable(await HtpasswdTable.read(path));
    expect(await checker.check("alice", "old")).toBe(false);
    expect(await checker.check("alice", "new")).toBe(true);
  });

  it("sign a remembered Authorization header in at once, and forget it when the password changes or the login goes", async () => {
    const path = freshPath();
    htpasswd("-B", "-b", "-C", "4", "-c", path, "alice", "old");
    htpasswd("-B", "-b", "-C", "4", path, "bob", "bob pw");
    const checker = new PasswordChecker(await HtpasswdTable.read(path));
    const basic = (login: string, password: string) => `Basic ${Buffer.from(`${login}:${password}`).toString("base64")}`;
    try {
      expect(checker.signIn(undefined)).toBeUndefined();
      expect(await checker.signIn(basic("alice", "wrong"))).toBeUndefined();
      expect(await checker.signIn("Bearer abc")).toBeUndefined();
      // The first time the password is checked (a promise); after that the same header is answered without one.
      expect(await checker.signIn(basic("alice", "old"))).toBe("alice");
      expect(checker.signIn(basic("alice", "old"))).toBe("alice");
      // Another spelling of the same credentials (the scheme's case, as parseBasic reads it) signs in too.
      expect(await checker.signIn(basic("alice", "old").replace("Basic", "basic"))).toBe("alice");
      expect(await checker.signIn(basic("bob", "bob pw"))).toBe("bob");
      // A wrong password is never remembered, and a remembered header says nothing about another.
      expect(await checker.signIn(basic("alice", "wrong"))).toBeUndefined();
      expect(await checker.signIn(basic("bob", "old"))).toBeUndefined();
      htpasswd("-B", "-b", "-C", "4", path, "alice", "new");
      htpasswd("-D", path, "bob");
      checker.replaceTable(await HtpasswdTable.read(path));
      expect(await checker.signIn(basic("alice", "old"))).toBeUndefined();
      expect(await checker.signIn(basic("bob", "bob pw"))).toBeUndefined();
      expect(await checker.signIn(basic("alice", "new"))).toBe("alice");
      expect(checker.signIn(basic("alice", "new"))).toBe("alice");
    } finally {
      checker.close();
    }
  });

  it("reload on change and on request; a broken file keeps the logins in use", async () => {
    const path = freshPath();
    htpasswd("-B", "-b", "-c", path, "alice", "one");
    const results: ReloadResult[] = [];
    const file = await HtpasswdFile.open(path, { onReload: (r) => results.push(r) });
    try {
      expect(await file.checker.check("alice", "one")).toBe(true);
      // As htpasswd changes it: the folder watch sees the write and reads the file again.
      htpasswd("-B", "-b", path, "bob", "two");
      await expect.poll(() => file.checker.table.size, { timeout: 10_000 }).toBe(2);
      expect(await file.checker.check("bob", "two")).toBe(true);
      // A half-written file (here: a line cut short) is refused; the table in use stays.
      const good = readFileSync(path, "utf8");
      writeFileSync(`${path}.tmp`, good.slice(0, good.length - 20));
      renameSync(`${path}.tmp`, path);
      await expect.poll(() => results.some((r) => !r.ok), { timeout: 10_000 }).toBe(true);
      expect(results.find((r) => !r.ok)).toMatchObject({ ok: false, error: expect.stringMatching(/not bcrypt|not "login:hash"/) });
      expect(await file.checker.check("alice", "one")).toBe(true);
      expect(await file.checker.check("bob", "two")).toBe(true);
      // SIGHUP's path: an explicit reload of a repaired file.
      writeFileSync(path, good);
      expect(await file.reload()).toEqual({ ok: true, logins: 2 });
    } finally {
      file.close();
    }
  });

  it("answer every check consistently while the file is reloaded under them", async () => {
    const path = freshPath();
    htpasswd("-B", "-b", "-c", path, "alice", "one");
    const file = await HtpasswdFile.open(path, { watch: false, maxConcurrent: 4 });
    try {
      const right: Promise<boolean>[] = [];
      const wrong: Promise<boolean>[] = [];
      const reloads: Promise<ReloadResult>[] = [];
      for (let i = 0; i < 40; i++) {
        (i % 2 ? right : wrong).push(file.checker.check("alice", i % 2 ? "one" : "nope"));
        if (i % 10 === 0) reloads.push(file.reload());
      }
      expect(await Promise.all(right)).toEqual(right.map(() => true));
      expect(await Promise.all(wrong)).toEqual(wrong.map(() => false));
      expect((await Promise.all(reloads)).every((r) => r.ok)).toBe(true);
      expect(await file.checker.check("alice", "one")).toBe(true);
      expect(await file.checker.check("alice", "nope")).toBe(false);
    } finally {
      file.close();
    }
  });
});

describe("hostile htpasswd text", () => {
  it("is parsed or refused with an HtpasswdError, never anything else", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        try {
          HtpasswdTable.parse(text);
        } catch (err) {
          expect(err).toBeInstanceOf(HtpasswdError);
        }
      }),
      { numRuns: 200 },
    );
  });
});
