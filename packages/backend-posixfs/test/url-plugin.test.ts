import { PosixFsBackend, pathFromFileUrl, plugin, unquote } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";

describe("file: URL plugin", () => {
  it("handles the file scheme", () => {
    expect(plugin.schemes).toEqual(["file"]);
  });

  it("maps file:///absolute/path to a posixfs backend on the percent-decoded absolute path", () => {
    const backend = plugin.fromUrl("file:///absolute/path");
    expect(backend).toBeInstanceOf(PosixFsBackend);
    expect((backend as PosixFsBackend).base).toBe("/absolute/path");
    expect((plugin.fromUrl("file:///absolute/my%20path") as PosixFsBackend).base).toBe("/absolute/my path");
    expect(pathFromFileUrl("file:///caf%C3%A9/%zz")).toBe("/café/%zz");
  });

  it("does not recognise relative paths or remote hosts", () => {
    expect(plugin.fromUrl("file://relative/path")).toBeUndefined();
    expect(plugin.fromUrl("file://hostname/share")).toBeUndefined();
    expect(plugin.fromUrl("sftp://host/path")).toBeUndefined();
  });

  it("accepts Windows drive paths on Windows only", () => {
    expect(pathFromFileUrl("file:///C:/path/x", "win32")).toBe("C:/path/x");
    expect(pathFromFileUrl("file:///C:/path/x", "linux")).toBe("/C:/path/x");
  });

  it("passes the quota option through", () => {
    expect((plugin.fromUrl("file:///q", { quota: 5 }) as PosixFsBackend).quotaLimit).toBe(5);
  });

  it("decodes like Python's unquote: UTF-8 runs, malformed escapes kept", () => {
    expect(unquote("a%2Fb%20c%")).toBe("a/b c%");
  });
});

describe("file: URL edges", () => {
  it("decodes a run of three or more escapes byte by byte", () => {
    expect(unquote("%41%42%43%44")).toBe("ABCD");
  });

  it("on Windows, reads a POSIX file: URL that names no drive as a POSIX path", () => {
    expect(pathFromFileUrl("file:///srv/store", "win32")).toBe("/srv/store");
  });
});
