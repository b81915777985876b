import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackendConnectionError, BackendError, collectBytes } from "@borgstore/core";
import { MEDIA_TYPE } from "@borgstore/core/rest-protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HttpTransport } from "../src/http-transport.js";
import type { HttpTarget } from "../src/url.js";
import { CuttingProxy } from "./helpers/cutting-proxy.js";
import { type RecordedResponse, RawResponder } from "./helpers/raw-responder.js";
import { type RunningServer, freePort, startServer } from "./helpers/server.js";

// HttpTransport on its own: against a bare TCP peer that records requests and answers with queued
// raw replies (also broken ones), and against our server behind a proxy that counts connections.

const ok = (body = "", headers: [string, string][] = []): RecordedResponse => ({
  status: 200,
  reason: "OK",
  headers: [["Content-Length", String(Buffer.byteLength(body))], ...headers],
  body: Buffer.from(body),
});
/** Announces 10 bytes, sends 3 and stalls. */
const stalled = (): RecordedResponse => ({ status: 200, reason: "OK", headers: [["Content-Length", "10"]], body: Buffer.from("abc") });

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: Error) => e,
  );
}

const target = (port: number, basePath = "", auth?: HttpTarget["auth"]): HttpTarget => ({
  kind: "http",
  origin: `http://127.0.0.1:${port}`,
  basePath,
  params: new URLSearchParams(),
  auth,
});

describe("against a bare peer", () => {
  let peer: RawResponder;
  const open: HttpTransport[] = [];
  const transport = (t: HttpTarget, concurrency = 1, timeout = 10_000) => {
    const created = new HttpTransport(t, { concurrency, timeout });
    open.push(created);
    return created;
  };

  beforeAll(async () => {
    peer = await RawResponder.start();
  });
  afterEach(() => {
    for (const t of open.splice(0)) t.destroy();
    peer.clear();
    peer.requests.length = 0;
  });
  afterAll(async () => {
    await peer?.stop();
  });

  const header = (i: number, name: string) => peer.requests[i]?.headers.find(([k]) => k === name)?.[1];

  it("sends the base path and target, Accept, Basic credentials in UTF-8 (RFC 7617: what our server and the reference server decode), and Content-Length only on POST and DELETE", async () => {
    const t = transport(target(peer.port, "/base/path", { username: "jürgen", password: "pä:ss" }));
    peer.respond(ok(), ok(), ok(), ok());
    for (const method of ["GET", "HEAD", "POST", "DELETE"] as const) await (await t.request({ method, target: "/ns/x?cmd=y" })).discard();
    expect(peer.requests.map((r) => `${r.method} ${r.target}`)).toEqual(["GET", "HEAD", "POST", "DELETE"].map((m) => `${m} /base/path/ns/x?cmd=y`));
    const token = Buffer.from("jürgen:pä:ss", "utf8").toString("base64");
    for (let i = 0; i < 4; i++) {
      expect(header(i, "accept")).toBe(MEDIA_TYPE);
      expect(header(i, "authorization")).toBe(`Basic ${token}`);
    }
    expect(header(0, "content-length")).toBeUndefined();
    expect(header(1, "content-length")).toBeUndefined();
    expect(header(2, "content-length")).toBe("0");
  });

  it("sends no credentials without them, and a body whole or streamed with its length", async () => {
    const t = transport(target(peer.port));
    peer.respond(ok(), ok());
    await (await t.request({ method: "POST", target: "/a", headers: { "x-extra": "1" }, body: Buffer.from("whole") })).discard();
    async function* source() {
      yield Buffer.from("stre");
      yield Buffer.from("amed");
    }
    await (await t.request({ method: "POST", target: "/b", body: { length: 8, source: source() } })).discard();
    expect(header(0, "authorization")).toBeUndefined();
    expect(header(0, "x-extra")).toBe("1");
    expect(peer.requests.map((r) => [r.target, header(peer.requests.indexOf(r), "content-length"), r.body.toString()])).toEqual([
      ["/a", "5", "whole"],
      ["/b", "8", "streamed"],
    ]);
  });

  it("HEAD requests keep their connection", async () => {
    const t = transport(target(peer.port));
    const before = peer.connections;
    peer.respond(ok("12345"), ok("12345"), ok("12345"), ok("x"));
    for (let i = 0; i < 3; i++) {
      const res = await t.request({ method: "HEAD", target: "/x" });
      expect(res.headers["content-length"]).toBe("5");
      await res.discard();
    }
    expect(await (await t.request({ method: "GET", target: "/x" })).text()).toBe("x");
    expect(peer.connections - before).toBe(1);
  });

  it("a header sent twice is joined with a comma", async () => {
    const t = transport(target(peer.port));
    peer.respond(ok("", [["X-Twice", "one"], ["X-Twice", "two"], ["X-Once", "only"]]));
    const res = await t.request({ method: "GET", target: "/" });
    await res.discard();
    expect(res.status).toBe(200);
    expect(res.headers["x-twice"]).toBe("one, two");
    expect(res.headers["x-once"]).toBe("only");
  });

  it("a discarded body frees the connection for the next request", async () => {
    const t = transport(target(peer.port));
    const before = peer.connections;
    peer.respond(ok("a".repeat(100_000)), ok("b"));
    await (await t.request({ method: "GET", target: "/1" })).discard();
    expect(await (await t.request({ method: "GET", target: "/2" })).text()).toBe("b");
    expect(peer.connections - before).toBe(1);
  });

  it("bytes() of bodies around the sizes it reads differently are the bytes sent", async () => {
    const t = transport(target(peer.port));
    const sizes = [0, 1, 16 * 1024, 16 * 1024 + 1, 3 * 1024 * 1024 + 7];
    peer.respond(...sizes.map((n) => ok("x".repeat(n).replace(/x/g, (_, i: number) => String.fromCharCode(97 + (i % 26))))));
    for (const n of sizes) {
      const got = await (await t.request({ method: "GET", target: `/${n}` })).bytes();
      expect(got.byteLength).toBe(n);
      expect(Buffer.from(got).toString()).toBe("x".repeat(n).replace(/x/g, (_, i: number) => String.fromCharCode(97 + (i % 26))));
    }
  });

  it("a server that does not answer within the timeout: a lost connection naming the request", async () => {
    const t = transport(target(peer.port), 1, 300);
    peer.silent = true;
    try {
      const err = await failure(t.request({ method: "GET", target: "/slow" }));
      expect(err).toBeInstanceOf(BackendConnectionError);
      expect(err.message).toMatch(/^GET \/slow failed: /);
    } finally {
      peer.silent = false;
    }
  });

  it("a body that stalls within the timeout: bytes(), text() and the stream fail as a lost connection", async () => {
    const t = transport(target(peer.port), 1, 300);
    peer.respond(stalled(), stalled(), stalled());
    const reading = [(r: { bytes(): Promise<unknown> }) => r.bytes(), (r: { text(): Promise<unknown> }) => r.text(), (r: { body: AsyncIterable<Uint8Array> }) => collectBytes(r.body)];
    for (const read of reading) {
      const res = await t.request({ method: "GET", target: "/stall" });
      const err = await failure(read(res));
      expect(err).toBeInstanceOf(BackendConnectionError);
      expect(err.message).toMatch(/^GET \/stall: reading response body: /);
    }
  });

  it("nothing listening: a lost connection naming the request", async () => {
    const t = transport(target(await freePort()));
    const err = await failure(t.request({ method: "POST", target: "/?cmd=create" }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toMatch(/^POST \/\?cmd=create failed: /);
  });

  it("after destroy() requests fail", async () => {
    const t = transport(target(peer.port));
    peer.respond(ok("1"));
    expect(await (await t.request({ method: "GET", target: "/" })).text()).toBe("1");
    t.destroy();
    await failure(t.request({ method: "GET", target: "/" }));
  });

  it("an unread body is given up after the timeout only while another request waits for its connection", async () => {
    const big = "x".repeat(4 << 20); // more than the socket and stream buffers: unread, it holds its connection
    const t = transport(target(peer.port), 1, 300);
    peer.respond(ok(big));
    const alone = await t.request({ method: "GET", target: "/alone" });
    await new Promise((resolve) => setTimeout(resolve, 800)); // no one waits: left alone
    expect((await collectBytes(alone.body)).byteLength).toBe(big.length);

    peer.respond(ok(big), ok("small"));
    const unread = await t.request({ method: "GET", target: "/unread" });
    const started = Date.now();
    const next = await t.request({ method: "GET", target: "/small" });
    expect(await next.text()).toBe("small");
    expect(Date.now() - started).toBeLessThan(3000);
    const error = await failure(collectBytes(unread.body));
    expect(error).toBeInstanceOf(BackendError);
    expect(error.message).toContain("unread while other requests waited");
  });

  it("close() with nothing in flight is quick; with an unread body it waits a second, then cuts the connection", async () => {
    const idle = new HttpTransport(target(peer.port), { concurrency: 1, timeout: 30_000 });
    peer.respond(ok("1"));
    await (await idle.request({ method: "GET", target: "/" })).text();
    let started = Date.now();
    await idle.close();
    expect(Date.now() - started).toBeLessThan(900);

    const busy = new HttpTransport(target(peer.port), { concurrency: 1, timeout: 30_000 });
    peer.respond(stalled());
    const res = await busy.request({ method: "GET", target: "/stall" });
    const closedBefore = peer.closed;
    started = Date.now();
    await busy.close();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(10_000);
    await expect(res.bytes()).rejects.toThrow();
    for (let i = 0; i < 100 && peer.closed === closedBefore; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(peer.closed).toBe(closedBefore + 1);
  });
});

describe("against our server, through a proxy that counts connections", () => {
  const root = mkdtempSync(join(tmpdir(), "borgstore-rest-http-transport-"));
  let server: RunningServer;
  let proxy: CuttingProxy;

  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${join(root, "store")}`, "--create"]);
    proxy = await CuttingProxy.start(Number(new URL(server.url).port));
  });
  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("opens at most `concurrency` connections however many requests are waiting", async () => {
    proxy.watchRequests(true);
    proxy.beforeRequest = () => new Promise((resolve) => setTimeout(resolve, 50));
    try {
      const t = new HttpTransport(target(proxy.port), { concurrency: 2, timeout: 10_000 });
      const before = proxy.connections;
      const replies = await Promise.all(Array.from({ length: 6 }, () => t.request({ method: "HEAD", target: "/" })));
      for (const res of replies) await res.discard();
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(proxy.connections - before).toBe(2);
      await t.close();
    } finally {
      proxy.watchRequests(false);
      proxy.beforeRequest = undefined;
    }
  });
});
