import { collectBytes, isBorgStoreError } from "@borgstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy, silentServer } from "./fault-proxy.js";
import { freshBackend, location, serverUrl } from "./server.js";

const describeS3 = serverUrl ? describe : describe.skip;

async function until(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return condition();
}

describeS3("connection pool, retries and timeouts (a fault-injecting proxy in front of the real S3 service)", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await FaultProxy.start(location().endpoint as string);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("retries throttling (503 SlowDown, 429) and 5xx answers with backoff, then succeeds", async () => {
    const b = freshBackend({ endpoint: proxy.endpoint });
    await b.create();
    await b.open();
    try {
      proxy.seen.length = 0;
      proxy.faults = [
        { status: 503, code: "SlowDown" },
        { status: 500, code: "InternalError" },
        { status: 429, code: "TooManyRequests" },
      ];
      await b.store("item", new Uint8Array([1, 2, 3]));
      expect(proxy.faults, "every injected fault was answered").toEqual([]);
      expect(proxy.seen.filter((r) => r.startsWith("PUT"))).toHaveLength(4);
      proxy.seen.length = 0;
      proxy.faults = [{ status: 503, code: "ServiceUnavailable" }];
      expect(Array.from(await b.load("item"))).toEqual([1, 2, 3]);
      expect(proxy.faults).toEqual([]);
      expect(proxy.seen.filter((r) => r.startsWith("GET"))).toHaveLength(2);
    } finally {
      proxy.faults = [];
      await b.close();
      await b.destroy();
    }
  }, 30_000);

  it("never has more requests on the wire than maxSockets, however many operations are in flight", async () => {
    const b = freshBackend({ endpoint: proxy.endpoint, maxSockets: 3 });
    await b.create();
    await b.open();
    try {
      const names = Array.from({ length: 48 }, (_, i) => `item${i}`);
      proxy.maxInFlight = 0;
      await Promise.all(names.map((n) => b.store(n, new Uint8Array(1024))));
      await Promise.all(names.map((n) => b.load(n)));
      expect(proxy.maxInFlight).toBeGreaterThan(1);
      expect(proxy.maxInFlight).toBeLessThanOrEqual(3);
    } finally {
      await b.close();
      await b.destroy();
    }
  }, 30_000);

  it("gives up after maxAttempts with a BACKEND_ERROR naming the S3 code", async () => {
    const b = freshBackend({ endpoint: proxy.endpoint, maxAttempts: 2 });
    proxy.faults = Array.from({ length: 2 }, () => ({ status: 503, code: "SlowDown" }));
    proxy.seen.length = 0;
    const err = await b.create().catch((e: unknown) => e);
    expect(proxy.faults, "both injected faults were answered").toEqual([]);
    expect(proxy.seen).toHaveLength(2);
    proxy.faults = [];
    expect(isBorgStoreError(err, "BACKEND_ERROR")).toBe(true);
    expect((err as Error).message).toContain("SlowDown (HTTP 503)");
    expect((err as Error).cause).toBeDefined();
  }, 30_000);

  it("an aborted load of a value whose answer stalls mid-body rejects with ABORTED and closes that connection", async () => {
    const b = freshBackend({ endpoint: proxy.endpoint });
    await b.create();
    await b.open();
    try {
      await b.store("big", new Uint8Array(4 * 1024 * 1024));
      proxy.stallBodiesAfter = 256 * 1024;
      const controller = new AbortController();
      const loading = b.load("big", { signal: controller.signal });
      expect(await until(() => proxy.stalledOpen === 1), "the answer stalled mid-body").toBe(true);
      controller.abort();
      const err = await loading.catch((e: unknown) => e);
      expect(isBorgStoreError(err, "ABORTED")).toBe(true);
      expect(await until(() => proxy.stalledOpen === 0), "the stalled connection was closed").toBe(true);
      proxy.stallBodiesAfter = undefined;
      expect((await b.load("big")).byteLength, "the backend still loads afterwards").toBe(4 * 1024 * 1024);
    } finally {
      proxy.stallBodiesAfter = undefined;
      await b.close();
      await b.destroy();
    }
  }, 30_000);

  it("a load whose answer is cut off mid-body fails with a typed error, never returns a short value", async () => {
    const b = freshBackend({ endpoint: proxy.endpoint });
    await b.create();
    await b.open();
    try {
      await b.store("big", new Uint8Array(4 * 1024 * 1024));
      proxy.cutBodiesAfter = 256 * 1024;
      for (const load of [() => b.load("big"), async () => collectBytes(await b.loadStream("big"))]) {
        const err = await load().catch((e: unknown) => e);
        expect(isBorgStoreError(err), String(err)).toBe(true);
        expect(["BACKEND_ERROR", "BACKEND_CONNECTION_ERROR"]).toContain((err as { code: string }).code);
      }
    } finally {
      proxy.cutBodiesAfter = undefined;
      await b.close();
      await b.destroy();
    }
  }, 30_000);

  it("a service that accepts but never answers fails with BACKEND_CONNECTION_ERROR after idleTimeoutMs", async () => {
    const silent = await silentServer();
    try {
      const b = freshBackend({ endpoint: silent.endpoint, idleTimeoutMs: 300, maxAttempts: 2 });
      const started = Date.now();
      const err = await b.open().catch((e: unknown) => e);
      expect(isBorgStoreError(err, "BACKEND_CONNECTION_ERROR")).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await silent.stop();
    }
  }, 20_000);
});
