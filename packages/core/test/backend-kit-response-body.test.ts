import { randomBytes } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer, get } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { readResponseBody } from "../src/backend-kit/index.js";
import { isBorgStoreError } from "../src/index.js";

/** A real HTTP server on loopback whose handler decides how each body is sent; counts its open connections. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const sockets = new Set<Socket>();
  const server: Server = createServer(handler);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    sockets,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function fetchResponse(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get(url, resolve).on("error", reject));
}

async function until(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return condition();
}

describe("readResponseBody (core's body reader for HTTP backends)", () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it("reads a 4 MiB body sent in many writes into one buffer of its Content-Length, byte for byte", async () => {
    const value = randomBytes(4 * 1024 * 1024 + 13);
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-length": value.byteLength });
      for (let at = 0; at < value.byteLength; at += 100_000) res.write(value.subarray(at, at + 100_000));
      res.end();
    });
    stop = server.stop;
    const res = await fetchResponse(server.url);
    const bytes = await readResponseBody(res, { length: Number(res.headers["content-length"]), what: "test" });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(bytes).equals(value)).toBe(true);
  });

  it("reads into the caller's buffer when the body fits (a view of its start), else into a fresh one", async () => {
    const value = randomBytes(70_000);
    const into = new Uint8Array(100_000);
    const fits = await readResponseBody(Readable.from([value.subarray(0, 1000), value.subarray(1000)]), { length: value.byteLength, into, what: "test" });
    expect(fits.buffer).toBe(into.buffer);
    expect(Buffer.from(fits).equals(value)).toBe(true);
    const small = new Uint8Array(10);
    const fresh = await readResponseBody(Readable.from([value]), { length: value.byteLength, into: small, what: "test" });
    expect(fresh.buffer).not.toBe(small.buffer);
    expect(Buffer.from(fresh).equals(value)).toBe(true);
  });

  it("joins the chunks of a body without a Content-Length", async () => {
    const bytes = await readResponseBody(Readable.from([Buffer.from("ab"), Buffer.from("cd")]), { length: undefined, what: "test" });
    expect(Buffer.from(bytes).toString()).toBe("abcd");
  });

  it("a body that runs over its Content-Length fails with BACKEND_ERROR", async () => {
    const err = await readResponseBody(Readable.from([Buffer.alloc(8), Buffer.alloc(8)]), { length: 10, what: "test" }).catch((e: unknown) => e);
    expect(isBorgStoreError(err, "BACKEND_ERROR")).toBe(true);
    expect((err as Error).message).toContain("more than its announced 10 bytes");
  });

  it("a body that ends short of its Content-Length fails with BACKEND_ERROR", async () => {
    const err = await readResponseBody(Readable.from([Buffer.alloc(8)]), { length: 10, what: "test" }).catch((e: unknown) => e);
    expect(isBorgStoreError(err, "BACKEND_ERROR")).toBe(true);
    expect((err as Error).message).toContain("ended after 8 of its 10 bytes");
  });

  it("a response cut off by the server mid-body fails (a typed or a connection error), never returns a short value", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-length": 1_000_000 });
      res.write(Buffer.alloc(300_000), () => res.socket?.destroy());
    });
    stop = server.stop;
    const res = await fetchResponse(server.url);
    const err = await readResponseBody(res, { length: 1_000_000, what: "test" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const code = (err as { code?: string }).code;
    expect(["BACKEND_ERROR", "ECONNRESET"]).toContain(code);
  });

  it("an abort mid-body rejects with ABORTED at once and closes the connection (no socket left open)", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-length": 10_000_000 });
      res.write(Buffer.alloc(64 * 1024)); // then stalls, as a slow service would
    });
    stop = server.stop;
    const res = await fetchResponse(server.url);
    const controller = new AbortController();
    const reading = readResponseBody(res, { length: 10_000_000, signal: controller.signal, what: "test" });
    await new Promise((r) => setTimeout(r, 50));
    expect(server.sockets.size).toBe(1);
    controller.abort();
    const err = await reading.catch((e: unknown) => e);
    expect(isBorgStoreError(err, "ABORTED")).toBe(true);
    expect(await until(() => server.sockets.size === 0), "the server saw the connection close").toBe(true);
  });

  it("an already aborted signal rejects before reading and closes the connection", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-length": 10 });
      res.write(Buffer.alloc(5));
    });
    stop = server.stop;
    const res = await fetchResponse(server.url);
    const err = await readResponseBody(res, { length: 10, signal: AbortSignal.abort(), what: "test" }).catch((e: unknown) => e);
    expect(isBorgStoreError(err, "ABORTED")).toBe(true);
    expect(await until(() => server.sockets.size === 0)).toBe(true);
  });
});
