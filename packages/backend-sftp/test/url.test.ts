import { parseSftpUrl, sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { ErrorCodes } from "@borgstore/core";
import { describe, expect, it } from "vitest";

describe("sftp URLs (docs/backend-urls.md#sftp-sftp)", () => {
  it.each([
    ["sftp://username@hostname:2222/rel/path", "username", "hostname", 2222, "rel/path"],
    ["sftp://username@hostname/rel/path", "username", "hostname", 0, "rel/path"],
    ["sftp://hostname:2222/rel/path", undefined, "hostname", 2222, "rel/path"],
    ["sftp://hostname/rel/path", undefined, "hostname", 0, "rel/path"],
    ["sftp://username@hostname:2222//abs/path", "username", "hostname", 2222, "/abs/path"],
    ["sftp://hostname//abs/path", undefined, "hostname", 0, "/abs/path"],
    ["sftp://user%40corp@hostname/my%20path", "user@corp", "hostname", 0, "my path"],
    ["sftp://username@127.0.0.1:22//abs/my%2Fdir%25", "username", "127.0.0.1", 22, "/abs/my/dir%"],
    // A password is ignored (as OpenSSH's sftp does): never part of the user name, which messages print.
    ["sftp://username:s3cret@hostname:2222/rel/path", "username", "hostname", 2222, "rel/path"],
  ])("%s → user %s, host %s, port %s (0 = not given), path %s", (url, username, hostname, port, path) => {
    expect(parseSftpUrl(url)).toEqual({ username, hostname, port, path });
  });

  it("other schemes are not sftp URLs (undefined, so other plugins may take them)", () => {
    expect(parseSftpUrl("file:///tmp/x")).toBeUndefined();
    expect(sftpBackendFromUrl("s3:/bucket/path")).toBeUndefined();
  });

  it.each(["sftp://hostname", "sftp://hostname/", "sftp:///path", "sftp://host:port/path", "sftp://host/%zz"])(
    "a malformed sftp URL %s fails with BACKEND_URL_INVALID",
    (url) => {
      expect(() => parseSftpUrl(url)).toThrow(expect.objectContaining({ code: ErrorCodes.BACKEND_URL_INVALID }));
    },
  );

  it("builds an SftpBackend that names its location without secrets, and refuses a quota", () => {
    const backend = sftpBackendFromUrl("sftp://alice@example.org:2200//srv/borg");
    expect(backend?.target).toEqual({ username: "alice", hostname: "example.org", port: 2200, path: "/srv/borg" });
    expect(backend?.location).toBe("sftp://alice@example.org:2200//srv/borg");
    expect(() => sftpBackendFromUrl("sftp://h/p", { quota: 1000 })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }),
    );
  });

  it("core's backendFromUrl resolves sftp: URLs to this package", async () => {
    const { backendFromUrl } = await import("@borgstore/core");
    const backend = await backendFromUrl("sftp://bob@host.example:2022/rel/path");
    // Core imports the package through Node's loader, the test through vitest's: compare by shape.
    expect(backend.constructor.name).toBe("SftpBackend");
    expect((backend as unknown as { target: unknown }).target).toEqual({ username: "bob", hostname: "host.example", port: 2022, path: "rel/path" });
  });

  it("the plugin serves the sftp scheme", async () => {
    const { plugin } = await import("@borgstore/backend-sftp");
    expect(plugin.schemes).toEqual(["sftp"]);
    expect(plugin.fromUrl("sftp://h/p")).toBeDefined();
  });
});
