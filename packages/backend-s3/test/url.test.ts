import { BackendURLInvalid, InvalidArgument, backendFromUrl, isBorgStoreError, registerBackend, unregisterBackend } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { S3Backend, parseS3Url, plugin } from "../src/index.js";
import { resolveRegion } from "../src/client.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

describe("s3:/b2: URLs (docs/backend-urls.md#s3-and-b2-s3-backblaze-b2)", () => {
  it("s3:/bucket/path names the bucket and the base path with a trailing slash (reference test_s3_url)", () => {
    expect(parseS3Url("s3:/bucket/path")).toEqual({ flavour: "s3", bucket: "bucket", basePath: "path/" });
  });

  it("percent-decodes the path: s3:/bucket/my%20path is 'my path/' (reference test_s3_url)", () => {
    expect(parseS3Url("s3:/bucket/my%20path").basePath).toBe("my path/");
  });

  it("takes key id, secret, endpoint with port, bucket and path from the reference's example", () => {
    expect(parseS3Url("s3:test:testtest@http://172.28.52.116:9000/test/path")).toEqual({
      flavour: "s3",
      accessKeyId: "test",
      secretAccessKey: "testtest",
      endpoint: "http://172.28.52.116:9000",
      bucket: "test",
      basePath: "path/",
    });
  });

  it("b2: works like s3: and takes the signing region from the Backblaze endpoint host", () => {
    const loc = parseS3Url("b2:id:key@https://s3.us-east-005.backblazeb2.com/bucket/path");
    expect(loc).toEqual({
      flavour: "b2",
      accessKeyId: "id",
      secretAccessKey: "key",
      endpoint: "https://s3.us-east-005.backblazeb2.com",
      bucket: "bucket",
      basePath: "path/",
    });
    expect(resolveRegion({ endpoint: loc.endpoint, flavour: "b2" })).toBe("us-east-005");
    expect(resolveRegion({ endpoint: loc.endpoint, region: "eu-central-003" })).toBe("eu-central-003");
  });

  it("a profile names the shared-config profile, with or without an endpoint", () => {
    expect(parseS3Url("s3:work@https://s3.example.com/b/p")).toEqual({
      flavour: "s3",
      profile: "work",
      endpoint: "https://s3.example.com",
      bucket: "b",
      basePath: "p/",
    });
    expect(parseS3Url("s3:work@/b/p")).toEqual({ flavour: "s3", profile: "work", bucket: "b", basePath: "p/" });
  });

  it("an endpoint without port and without credentials", () => {
    expect(parseS3Url("s3:https://minio.local/b/deep/er/path")).toEqual({
      flavour: "s3",
      endpoint: "https://minio.local",
      bucket: "b",
      basePath: "deep/er/path/",
    });
  });

  it("decodes key id and secret (a secret may contain '/' as AWS secrets do), not the bucket", () => {
    const loc = parseS3Url("s3:AKIA%41:ab/c%2Bd%40e@http://h:1/my%20bucket/p");
    expect(loc.accessKeyId).toBe("AKIAA");
    expect(loc.secretAccessKey).toBe("ab/c+d@e");
    expect(loc.bucket).toBe("my%20bucket");
  });

  it("keeps exactly one trailing slash on the base path", () => {
    expect(parseS3Url("s3:/b/p///").basePath).toBe("p/");
  });

  it.each([
    ["no slash before the bucket", "s3:bucket/path"],
    ["no path", "s3:/bucket"],
    ["an empty path", "s3:/bucket/"],
    ["an empty bucket", "s3://path"],
    ["a bad percent-escape", "s3:/bucket/a%zz"],
    ["a non-numeric port", "s3:http://h:port/b/p"],
  ])("refuses %s with BACKEND_URL_INVALID", (_what, url) => {
    expect(() => parseS3Url(url)).toThrow(BackendURLInvalid);
  });

  it("never shows the secret in error messages or the location", () => {
    let message = "";
    try {
      parseS3Url("s3:id:topsecret@http://h:1/b");
    } catch (err) {
      message = String((err as Error).message);
    }
    expect(message).toContain("***");
    expect(message).not.toContain("topsecret");
    const backend = S3Backend.fromUrl("s3:id:topsecret@http://127.0.0.1:1/bucket/p");
    expect(backend.location).toBe("s3:http://127.0.0.1:1/bucket/p/");
  });
});

describe("plugin", () => {
  it("serves the s3 and b2 schemes", () => {
    expect(plugin.schemes).toEqual(["s3", "b2"]);
    const backend = plugin.fromUrl("s3:id:secret@http://127.0.0.1:1/bucket/repo");
    expect(backend).toBeInstanceOf(S3Backend);
    expect((backend as S3Backend).bucket).toBe("bucket");
    expect((backend as S3Backend).basePath).toBe("repo/");
    expect(plugin.fromUrl("b2:id:key@https://s3.us-west-004.backblazeb2.com/b/p")).toBeInstanceOf(S3Backend);
  });

  it("core's backendFromUrl resolves s3: and b2: through it", async () => {
    registerBackend(plugin);
    try {
      expect(await backendFromUrl("s3:id:secret@http://127.0.0.1:1/bucket/repo")).toBeInstanceOf(S3Backend);
      expect(await backendFromUrl("b2:id:key@https://s3.us-west-004.backblazeb2.com/b/p")).toBeInstanceOf(S3Backend);
    } finally {
      unregisterBackend("s3", plugin);
      unregisterBackend("b2", plugin);
    }
  });

  it("leaves other schemes to other plugins", () => {
    expect(plugin.fromUrl("file:///tmp/x")).toBeUndefined();
    expect(plugin.fromUrl("sftp://h/p")).toBeUndefined();
  });

  it("refuses a quota (S3 does not track usage) with INVALID_ARGUMENT", () => {
    expect(() => plugin.fromUrl("s3:/b/p", { quota: 1000 })).toThrow(InvalidArgument);
  });

  it("passes permissions on to core's checks", async () => {
    const backend = plugin.fromUrl("s3:id:secret@http://127.0.0.1:1/bucket/repo", { permissions: { "": "l" } });
    const err = await backend?.create().catch((e: unknown) => e);
    expect(isBorgStoreError(err, "PERMISSION_DENIED")).toBe(true);
  });
});

describe("credentials from a named profile", () => {
  it("a profile missing from the shared files fails with PERMISSION_DENIED saying the credentials could not be loaded", async () => {
    const saved = { ...process.env };
    process.env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/credentials";
    process.env.AWS_CONFIG_FILE = "/nonexistent/config";
    try {
      const backend = S3Backend.fromUrl("s3:no-such-profile@http://127.0.0.1:1/bucket/repo", { maxAttempts: 1 });
      const err = await backend.open().catch((e: unknown) => e);
      expect(isBorgStoreError(err, "PERMISSION_DENIED")).toBe(true);
      expect((err as Error).message).toMatch(/credentials could not be loaded/);
    } finally {
      process.env = saved;
    }
  });
});
