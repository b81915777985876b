import { randomBytes } from "node:crypto";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createS3Client } from "../src/index.js";
import { FaultProxy } from "./fault-proxy.js";
import { freshBackend, location, serverUrl } from "./server.js";

const describeS3 = serverUrl ? describe : describe.skip;
const MiB = 1024 * 1024;

describeS3("S3Backend options, through a recording proxy in front of the real S3 service", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await FaultProxy.start(location().endpoint as string);
  });
  afterAll(async () => {
    await proxy?.stop();
  });
  beforeEach(() => {
    proxy.seen.length = 0;
    proxy.seenHeaders.length = 0;
    proxy.faults = [];
    proxy.maxInFlight = 0;
  });

  /** Runs `fn` on a created and opened backend, then closes and destroys it. */
  async function withBackend(options: Parameters<typeof freshBackend>[0], fn: (b: ReturnType<typeof freshBackend>) => Promise<void>) {
    const b = freshBackend({ endpoint: proxy.endpoint, ...options });
    await b.create();
    await b.open();
    try {
      await fn(b);
    } finally {
      await b.close();
      await b.destroy();
    }
  }

  const signingRegions = () =>
    proxy.seenHeaders.map((h) => /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\/aws4_request/.exec(h.authorization ?? "")?.[1]);

  it("region: every request is signed for the given region, and the service accepts it", async () => {
    await withBackend({ region: "eu-borgstore-1" }, async (b) => {
      await b.store("signed", new Uint8Array([1, 2]));
      expect(Array.from(await b.load("signed"))).toEqual([1, 2]);
    });
    expect(proxy.seenHeaders.length).toBeGreaterThan(3);
    expect(new Set(signingRegions())).toEqual(new Set(["eu-borgstore-1"]));
  });

  it("forcePathStyle: true puts the bucket in the path; false puts it in the host name", async () => {
    const { bucket } = location();
    const byName = proxy.endpoint.replace("127.0.0.1", "localhost");
    const pathStyle = freshBackend({ endpoint: byName, forcePathStyle: true });
    await pathStyle.create();
    await pathStyle.destroy();
    expect(proxy.seen.length).toBeGreaterThan(0);
    expect(proxy.seen.every((line) => line.split(" ")[1]?.startsWith(`/${bucket}/`) || line.split(" ")[1]?.startsWith(`/${bucket}?`))).toBe(true);
    proxy.seen.length = 0;
    // Virtual-hosted style asks for BUCKET.localhost, which does not resolve here: the name it tried is the proof.
    const hostStyle = freshBackend({ endpoint: byName, forcePathStyle: false, maxAttempts: 1 });
    const err = await hostStyle.create().catch((e: unknown) => e);
    expect(proxy.seen).toEqual([]);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err)) + String((err as Error).cause)).toContain(`${bucket}.localhost`);
  });

  it("retryMode: adaptive slows the client down after throttling, standard does not", async () => {
    const timeAfterThrottling = async (retryMode: "standard" | "adaptive") => {
      let elapsed = 0;
      await withBackend({ retryMode, maxAttempts: 6 }, async (b) => {
        proxy.faults = Array.from({ length: 1 }, () => ({ status: 503, code: "SlowDown" }));
        await b.store("throttled", new Uint8Array([1]));
        expect(proxy.faults).toEqual([]);
        const started = Date.now();
        for (let i = 0; i < 3; i++) await b.store(`after${i}`, new Uint8Array([i]));
        elapsed = Date.now() - started;
      });
      return elapsed;
    };
    const standard = await timeAfterThrottling("standard");
    const adaptive = await timeAfterThrottling("adaptive");
    // The rate limiter holds requests back by itself (measured: about a second for these three);
    // standard mode sends them at once.
    expect(adaptive).toBeGreaterThan(standard + 400);
  }, 60_000);

  it("multipartThreshold, partSize and partsInFlight shape a large store's upload", async () => {
    const value = randomBytes(12 * MiB);
    const parts = () => proxy.seen.filter((line) => line.startsWith("PUT") && /[?&]partNumber=/.test(line)).length;
    await withBackend({ multipartThreshold: 11 * MiB, partSize: 5 * MiB, partsInFlight: 1 }, async (b) => {
      await b.store("large", value);
      expect(parts()).toBe(3);
      expect(proxy.maxInFlight).toBe(1);
      expect(Buffer.from(await b.load("large")).equals(value)).toBe(true);
    });
    proxy.seen.length = 0;
    proxy.maxInFlight = 0;
    await withBackend({ multipartThreshold: 11 * MiB, partSize: 6 * MiB, partsInFlight: 2 }, async (b) => {
      await b.store("large", value);
      expect(parts()).toBe(2);
      expect(proxy.maxInFlight).toBe(2);
    });
    proxy.seen.length = 0;
    await withBackend({ multipartThreshold: 13 * MiB }, async (b) => {
      await b.store("large", value);
      expect(parts()).toBe(0);
      expect(proxy.seen.filter((line) => line.startsWith("PUT") && line.includes("/large"))).toHaveLength(1);
    });
  }, 60_000);

  it("client: a client of the caller's is the one the backend sends through, and closing the backend leaves it usable", async () => {
    const loc = location();
    const client = createS3Client({
      endpoint: proxy.endpoint,
      credentials: { accessKeyId: loc.accessKeyId ?? "", secretAccessKey: loc.secretAccessKey ?? "" },
      region: "eu-callers-1",
    });
    expect(client).toBeInstanceOf(S3Client);
    try {
      // The backend's own endpoint would bypass the proxy: only the caller's client goes through it.
      const b = freshBackend({ client });
      await b.create();
      await b.open();
      await b.store("mine", new Uint8Array([7]));
      await b.close();
      expect(signingRegions().length).toBeGreaterThan(2);
      expect(new Set(signingRegions())).toEqual(new Set(["eu-callers-1"]));
      const listed = await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: b.basePath }));
      expect(listed.KeyCount).toBeGreaterThan(0);
      await b.destroy();
    } finally {
      client.destroy();
    }
  });
});
