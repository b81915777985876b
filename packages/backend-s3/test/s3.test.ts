import { createHash, randomBytes } from "node:crypto";
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { type ByteSource, ContentHashMismatch, isBorgStoreError } from "@borgstore/core";
import { expectBigValuesRoundTripThroughStore } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import type { S3Backend } from "../src/index.js";
import { FaultProxy } from "./fault-proxy.js";
import { freshBackend, location, rawClient, serverUrl } from "./server.js";

const MiB = 1024 * 1024;
const describeS3 = serverUrl ? describe : describe.skip;

const PATTERN = randomBytes(MiB);

/** Pseudo-random bytes made chunk by chunk (a 100 MB value never sits in memory whole): a random block, stamped with the chunk number. */
async function* generated(total: number, chunk = MiB, seed = 1): ByteSource {
  let sent = 0;
  for (let i = 0; sent < total; i++) {
    const n = Math.min(chunk, total - sent);
    const out = Buffer.from(PATTERN.subarray(0, n));
    if (n >= 8) {
      out.writeUInt32BE(i, 0);
      out.writeUInt32BE(seed, 4);
    }
    sent += n;
    yield out;
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function sha256Of(source: ByteSource): Promise<{ hex: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of source) {
    h.update(chunk);
    size += chunk.byteLength;
  }
  return { hex: h.digest("hex"), size };
}

/** Yields `good` bytes, then fails like a dropped client connection. */
async function* breaksAfter(good: number): ByteSource {
  yield* generated(good, MiB, 7);
  throw new Error("source broke midway");
}

async function rawKeys(prefix: string): Promise<string[]> {
  const s3 = rawClient();
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: location().bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key as string));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  } finally {
    s3.destroy();
  }
}

async function pendingUploads(prefix: string): Promise<number> {
  const s3 = rawClient();
  try {
    const res = await s3.send(new ListMultipartUploadsCommand({ Bucket: location().bucket, Prefix: prefix }));
    return res.Uploads?.length ?? 0;
  } finally {
    s3.destroy();
  }
}

async function inParallel<T>(items: readonly T[], inFlight: number, op: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await op(items[next++] as T);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

describeS3("S3 backend against a real S3 service", () => {
  const toDestroy: S3Backend[] = [];
  async function created(overrides = {}): Promise<S3Backend> {
    const backend = freshBackend(overrides);
    await backend.create();
    await backend.open();
    toDestroy.push(backend);
    return backend;
  }
  afterAll(async () => {
    for (const b of toDestroy) {
      if (b.opened) await b.close();
      await b.destroy().catch(() => {});
    }
  }, 120_000);

  describe("object layout (the reference's, so buckets are shared with Python borgstore)", () => {
    it("create writes <path>/.dir, mkdir writes <dir>/.dir, items are <path>/<name>", async () => {
      const b = await created();
      await b.mkdir("data");
      await b.store("data/00000001", new Uint8Array([1]));
      await b.store("config", new Uint8Array([2]));
      expect(await rawKeys(b.basePath)).toEqual([
        `${b.basePath}.dir`,
        `${b.basePath}config`,
        `${b.basePath}data/.dir`,
        `${b.basePath}data/00000001`,
      ]);
    });

    it("reads a store laid out by the reference: markers and .tmp leftovers are hidden, prefixes are directories", async () => {
      const b = freshBackend();
      const s3 = rawClient();
      const put = (key: string, body: string) =>
        s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: b.basePath + key, Body: Buffer.from(body) }));
      try {
        await put(".dir", "");
        await put("meta/.dir", "");
        await put("meta/abc", "value");
        await put("meta/upload.tmp", "half");
        await put("data/00/0001", "x");
      } finally {
        s3.destroy();
      }
      await b.open();
      toDestroy.push(b);
      expect((await collect(b.list(""))).map((i) => [i.name, i.directory])).toEqual([
        ["data", true],
        ["meta", true],
      ]);
      expect(await collect(b.list("meta"))).toEqual([{ name: "abc", exists: true, directory: false, size: 5, atime: 0 }]);
      expect(new TextDecoder().decode(await b.load("meta/abc"))).toBe("value");
      // "data/00" has no marker (the reference's store does not write one) but holds items.
      expect(await b.info("data/00")).toMatchObject({ exists: true, directory: true });
      expect((await collect(b.list("data/00"))).map((i) => i.name)).toEqual(["0001"]);
    });

    it("rmdir removes the marker of an empty directory, refuses a non-empty one, and reports a missing one", async () => {
      const b = await created();
      await b.mkdir("empty");
      await b.mkdir("full");
      await b.store("full/x", new Uint8Array([1]));
      await b.rmdir("empty");
      expect((await b.info("empty")).exists).toBe(false);
      await expect(b.rmdir("full")).rejects.toMatchObject({ code: "BACKEND_ERROR" });
      await expect(b.rmdir("never")).rejects.toMatchObject({ code: "OBJECT_NOT_FOUND" });
    });
  });

  it("lists 2,500 keys of one namespace completely and sorted (ListObjectsV2 pages of 1,000)", async () => {
    const b = await created({ maxSockets: 32 });
    await b.mkdir("data");
    const names = Array.from({ length: 2500 }, (_, i) => `data/${createHash("sha256").update(String(i)).digest("hex").slice(0, 16)}`);
    await inParallel(names, 32, (name) => b.store(name, new Uint8Array([name.charCodeAt(5)])));
    // Keys order "a/" (directory a) after "a-b"; names order "a" first: list must sort names, not keys.
    await b.store("data/a-b", new Uint8Array(0));
    await b.mkdir("data/a");
    const listed = (await collect(b.list("data"))).map((i) => i.name);
    const expected = [...names.map((n) => n.slice(5)), "a-b", "a"].sort();
    expect(listed).toHaveLength(2502);
    expect(listed).toEqual(expected);
  }, 60_000);

  it("streams a 100 MB value up (multipart) and down, byte for byte, and loads a range from its middle", async () => {
    const b = await created();
    const size = 100_000_000;
    const expected = await sha256Of(generated(size));
    await b.storeStream("big", generated(size), { size, sha256: expected.hex });
    expect(await b.info("big")).toMatchObject({ exists: true, size });
    expect(await sha256Of(await b.loadStream("big"))).toEqual(expected);
    const middle = await b.load("big", { offset: 50_000_000, size: 1000 });
    const all = Buffer.concat(await collect(generated(50_001_000)));
    expect(Buffer.from(middle).equals(all.subarray(50_000_000))).toBe(true);
    await b.delete("big");
  }, 120_000);

  describe("atomic stores: a failed upload leaves nothing visible and no parts behind", () => {
    it("a source that breaks after 20 MiB (multipart under way) aborts the upload", async () => {
      const b = await created();
      await expect(b.storeStream("broken", breaksAfter(20 * MiB))).rejects.toThrow("source broke midway");
      expect((await b.info("broken")).exists).toBe(false);
      expect(await collect(b.list(""))).toEqual([]);
      expect(await rawKeys(`${b.basePath}broken`)).toEqual([]);
      expect(await pendingUploads(b.basePath)).toBe(0);
    }, 60_000);

    it("a wrong sha256 noticed only at the end of a 20 MiB stream keeps the old value", async () => {
      const b = await created();
      await b.store("item", new Uint8Array([1, 2, 3]));
      const err = await b
        .storeStream("item", generated(20 * MiB), { sha256: "0".repeat(64) })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ContentHashMismatch);
      expect(Array.from(await b.load("item"))).toEqual([1, 2, 3]);
      expect(await pendingUploads(b.basePath)).toBe(0);
    }, 60_000);

    it("a wrong size on a small (single PUT) stream stores nothing", async () => {
      const b = await created();
      await expect(b.storeStream("small", generated(1000), { size: 999 })).rejects.toMatchObject({
        code: "CONTENT_LENGTH_MISMATCH",
      });
      expect((await b.info("small")).exists).toBe(false);
    });
  });

  it("runs 64 operations at once through a pool of 4 connections", async () => {
    // A counting proxy in front of the service sees the connections and requests on the wire.
    const proxy = await FaultProxy.start(location().endpoint as string);
    try {
      const b = await created({ maxSockets: 4, endpoint: proxy.endpoint });
      proxy.maxInFlight = 0;
      proxy.maxOpenConnections = proxy.openConnections;
      const names = Array.from({ length: 64 }, (_, i) => `item${String(i).padStart(2, "0")}`);
      await Promise.all(names.map((n, i) => b.store(n, new Uint8Array([i]))));
      const values = await Promise.all(names.map((n) => b.load(n)));
      expect(values.map((v) => v[0])).toEqual(names.map((_, i) => i));
      expect(proxy.maxInFlight).toBeGreaterThan(1);
      expect(proxy.maxInFlight).toBeLessThanOrEqual(4);
      expect(proxy.maxOpenConnections).toBeLessThanOrEqual(4);
    } finally {
      await proxy.stop();
    }
  }, 30_000);

  it("signs every request for the configured region, and radosgw accepts the signatures", async () => {
    const proxy = await FaultProxy.start(location().endpoint as string);
    try {
      for (const [region, expected] of [
        ["eu-west-7", "eu-west-7"],
        [undefined, process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1"],
      ] as const) {
        proxy.authorizations.length = 0;
        const b = await created({ region, endpoint: proxy.endpoint });
        await b.store("signed", new Uint8Array([9]));
        expect(Array.from(await b.load("signed"))).toEqual([9]);
        const scopes = proxy.authorizations.map((a) => /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\/aws4_request/.exec(a)?.[1]);
        expect(scopes.length).toBeGreaterThanOrEqual(4);
        expect(new Set(scopes)).toEqual(new Set([expected]));
      }
    } finally {
      await proxy.stop();
    }
  });

  describe("clear errors", () => {
    it("wrong credentials: PERMISSION_DENIED naming the S3 code, with the SDK error as cause", async () => {
      const b = freshBackend({ credentials: { accessKeyId: "nobody", secretAccessKey: "wrong" } });
      for (const op of [() => b.create(), () => b.open()]) {
        const err = await op().catch((e: unknown) => e);
        expect(isBorgStoreError(err, "PERMISSION_DENIED")).toBe(true);
        expect((err as Error).message).toMatch(/InvalidAccessKeyId.*HTTP 403.*check the access key/);
        expect((err as Error).cause).toMatchObject({ name: "InvalidAccessKeyId" });
      }
    });

    it("a right key with a wrong secret: PERMISSION_DENIED (SignatureDoesNotMatch)", async () => {
      const loc = location();
      const b = freshBackend({ credentials: { accessKeyId: loc.accessKeyId ?? "", secretAccessKey: "not-the-secret" } });
      const err = await b.create().catch((e: unknown) => e);
      expect(isBorgStoreError(err, "PERMISSION_DENIED")).toBe(true);
      expect((err as Error).message).toContain("SignatureDoesNotMatch");
    });

    it("a missing bucket: BACKEND_DOES_NOT_EXIST", async () => {
      const b = freshBackend({ bucket: `no-such-bucket-${randomBytes(4).toString("hex")}` });
      await expect(b.create()).rejects.toMatchObject({ code: "BACKEND_DOES_NOT_EXIST", message: /bucket does not exist/ });
    });

    it("a store that was never created: open fails with BACKEND_DOES_NOT_EXIST", async () => {
      await expect(freshBackend().open()).rejects.toMatchObject({ code: "BACKEND_DOES_NOT_EXIST" });
    });

    it("nothing listening: BACKEND_CONNECTION_ERROR after the configured attempts", async () => {
      const b = freshBackend({ endpoint: "http://127.0.0.1:9", maxAttempts: 2, connectTimeoutMs: 2000 });
      const err = await b.open().catch((e: unknown) => e);
      expect(isBorgStoreError(err, "BACKEND_CONNECTION_ERROR")).toBe(true);
      expect((err as Error).cause).toBeDefined();
    }, 20_000);
  });
});

describeS3("S3Backend under a Store", () => {
  it("10 values of 1 MiB round-trip through a Store and list in order (reference: test_scalability_big_values_s3)", async () => {
    await expectBigValuesRoundTripThroughStore(freshBackend());
  });
});
