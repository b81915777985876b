import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fileUrlFromPath, urlFromPathOrUrl } from "../src/index.js";
import { expandUser } from "../src/file-url.js";

let dir: string;
const savedHome = process.env.HOME;
beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "borgstore-file-url-")));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  if (savedHome === undefined) delete process.env.HOME;
  else process.env.HOME = savedHome;
});

/** The user a `~name` test can rely on: root's home is in every /etc/passwd. */
const ROOT_HOME = "/root";

describe("expandUser (as Python's os.path.expanduser)", () => {
  it("expands ~ and ~/… from $HOME", () => {
    process.env.HOME = "/home/someone";
    expect(expandUser("~")).toBe("/home/someone");
    expect(expandUser("~/a/b")).toBe("/home/someone/a/b");
    expect(expandUser("~/a\nb")).toBe("/home/someone/a\nb");
  });

  it("expands ~user and ~user/… from /etc/passwd, and leaves an unknown user's ~ as it is", () => {
    expect(expandUser("~root")).toBe(ROOT_HOME);
    expect(expandUser("~root/repo")).toBe(`${ROOT_HOME}/repo`);
    expect(expandUser("~no-such-user-4711/repo")).toBe("~no-such-user-4711/repo");
  });

  it("leaves paths without a leading ~ alone", () => {
    process.env.HOME = "/home/someone";
    for (const path of ["a~/b", "/~", "./~", "repo", "", "/abs/~x"]) expect(expandUser(path)).toBe(path);
  });
});

describe("fileUrlFromPath", () => {
  it("resolves a relative path against the working directory", () => {
    expect(fileUrlFromPath("no-such-dir-4711/repo")).toBe(pathToFileURL(join(realpathSync(process.cwd()), "no-such-dir-4711/repo")).href);
  });

  it("resolves symlinks in the existing part of the path and appends the missing rest", () => {
    const real = join(dir, "real");
    mkdirSync(real);
    symlinkSync(real, join(dir, "link"));
    expect(fileUrlFromPath(join(dir, "link"))).toBe(pathToFileURL(real).href);
    expect(fileUrlFromPath(join(dir, "link", "missing", "deeper"))).toBe(pathToFileURL(join(real, "missing", "deeper")).href);
  });

  it("expands ~ first and percent-encodes what a URL cannot hold", () => {
    process.env.HOME = join(dir, "my home");
    expect(fileUrlFromPath("~/repo #1")).toBe(`file://${dir}/my%20home/repo%20%231`);
    expect(fileUrlFromPath("/")).toBe("file:///");
  });
});

describe("urlFromPathOrUrl", () => {
  it("keeps anything with a scheme as it is", () => {
    for (const url of ["s3:bucket/x", "file:///x/y", "memory:", "sftp://h/p", "Git+SSH.x-y:whatever", "rclone:remote:path"])
      expect(urlFromPathOrUrl(url)).toBe(url);
  });

  it("turns a path (with a slash, a leading ~, or .) into its file:// URL", () => {
    process.env.HOME = dir;
    const cwd = realpathSync(process.cwd());
    expect(urlFromPathOrUrl("./no-such-4711")).toBe(pathToFileURL(join(cwd, "no-such-4711")).href);
    expect(urlFromPathOrUrl("a/b")).toBe(pathToFileURL(join(cwd, "a/b")).href);
    expect(urlFromPathOrUrl("/srv/no-such-4711")).toBe("file:///srv/no-such-4711");
    expect(urlFromPathOrUrl("~")).toBe(pathToFileURL(dir).href);
    expect(urlFromPathOrUrl(".")).toBe(pathToFileURL(cwd).href);
    expect(urlFromPathOrUrl("./x:y")).toBe(pathToFileURL(join(cwd, "x:y")).href);
    expect(urlFromPathOrUrl("~root")).toBe(pathToFileURL(realpathSync(ROOT_HOME)).href);
  });

  it("leaves a bare word (no scheme, no slash) as it is, so it fails as a URL instead of naming a directory", () => {
    for (const word of ["repo", "1abc:x", "-x:y", ".."]) expect(urlFromPathOrUrl(word)).toBe(word);
  });
});
