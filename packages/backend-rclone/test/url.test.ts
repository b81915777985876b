import { BackendURLInvalid, InvalidArgument } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { RcloneBackend, normalizeRemote, plugin, remoteFromUrl } from "../src/index.js";

describe("rclone: URLs (docs/backend-urls.md#rclone-any-rclone-remote)", () => {
  it("passes the remote spec to rclone verbatim and appends / to a path", () => {
    expect(remoteFromUrl("rclone:remote:path")).toBe("remote:path/");
    expect(remoteFromUrl("rclone:remote:path/sub")).toBe("remote:path/sub/");
    expect(remoteFromUrl("rclone:/abs/dir")).toBe("/abs/dir/");
    expect(remoteFromUrl("rclone::local:/tmp/dir")).toBe(":local:/tmp/dir/");
  });

  it("appends nothing when the spec ends with : (remote root) or / already", () => {
    expect(remoteFromUrl("rclone:remote:")).toBe("remote:");
    expect(remoteFromUrl("rclone:remote:path/")).toBe("remote:path/");
  });

  it("does not percent-decode, so connection strings and odd paths reach rclone unchanged", () => {
    expect(remoteFromUrl("rclone:remote:my%20path")).toBe("remote:my%20path/");
    expect(remoteFromUrl('rclone::sftp,host=127.0.0.1,port=2222,key_file="/k,1":/data')).toBe(
      ':sftp,host=127.0.0.1,port=2222,key_file="/k,1":/data/',
    );
  });

  it("leaves other schemes to other plugins", () => {
    expect(remoteFromUrl("file:///tmp/x")).toBeUndefined();
    expect(remoteFromUrl("sftp://host/path")).toBeUndefined();
    expect(plugin.fromUrl("s3:/bucket/path")).toBeUndefined();
  });

  it("rejects rclone: without a remote", () => {
    expect(() => remoteFromUrl("rclone:")).toThrow(BackendURLInvalid);
  });

  it("the plugin serves the rclone scheme and builds an RcloneBackend without starting rclone", () => {
    expect(plugin.schemes).toEqual(["rclone"]);
    const backend = plugin.fromUrl("rclone:remote:path", { permissions: { "": "lr" } });
    expect(backend).toBeInstanceOf(RcloneBackend);
    expect((backend as RcloneBackend).remote).toBe("remote:path/");
    expect(backend?.location).toBe("remote:path/");
    expect(backend?.opened).toBe(false);
  });

  it("the plugin refuses a quota, which only the file: backend tracks", () => {
    expect(() => plugin.fromUrl("rclone:remote:path", { quota: 1000 })).toThrow(InvalidArgument);
  });

  it("a backend built from options normalises its remote the same way", () => {
    expect(normalizeRemote("x:y")).toBe("x:y/");
    expect(new RcloneBackend({ remote: "/abs" }).remote).toBe("/abs/");
  });
});
