import { createHash, randomBytes } from "node:crypto";
import { getEventListeners } from "node:events";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AddressInfo, type Server, type Socket, createServer } from "node:net";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { BackendConnectionError, BackendError, BackendURLInvalid, type ByteSource, InvalidArgument, PermissionDenied, collectBytes } from "@borgstore/core";
import { HEADERS } from "@borgstore/core/rest-protocol";
import { Logger, RestServer, backendFromServerUrl } from "@borgstore/server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { RawResponder, type RecordedResponse } from "./helpers/raw-responder.js";
import { SERVER_CLI } from "./helpers/server.js";

// RestBackend's own decisions, each where one test can see it: against our server in-process
// (over posixfs) and against bare TCP peers that answer what no borgstore server would.

const quiet = new Logger("error", new Writable({ write: (_chunk, _encoding, done) => done() }));
const CONTENT_HASH = HEADERS.contentHash.toLowerCase();

function reply(status: number, headers: [string, string][] = [], body: Buffer = Buffer.alloc(0)): RecordedResponse {
  const framed = headers.some(([name]) => name.toLowerCase() === "transfer-encoding");
  return { status, reason: "X", headers: framed ? headers : [["Content-Length", String(body.byteLength)], ...headers], body };
}

/** A chunked body: Transfer-Encoding instead of Content-Length. */
function chunked(data: string): Buffer {
  return Buffer.from(`${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`, "latin1");
}

async function* once(value: Uint8Array): ByteSource {
  yield value;
}

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(10);
  }
}

describe("new RestBackend", () => {
  it("refuses a URL it cannot parse with BackendURLInvalid naming it", () => {
    expect(() => new RestBackend({ url: "ftp://host/x", env: {} })).toThrow(BackendURLInvalid);
    expect(() => new RestBackend({ url: "ftp://host/x", env: {} })).toThrow("Invalid REST URL: ftp://host/x");
  });

  it("refuses a concurrency that is no positive integer, quoting it", () => {
    expect(() => new RestBackend({ url: "http://127.0.0.1:1/", concurrency: 0, env: {} })).toThrow(InvalidArgument);
    expect(() => new RestBackend({ url: "http://127.0.0.1:1/?concurrency=1.5", env: {} })).toThrow(
      "concurrency must be a positive integer, but got: 1.5",
    );
  });

  it("sends one request at a time over stdio whatever concurrency says; HTTP keeps it", () => {
    expect(new RestBackend({ url: "rest:///tmp/store", concurrency: 8, env: {} }).concurrency).toBe(1);
    expect(new RestBackend({ url: "http://127.0.0.1:1/", concurrency: 8, env: {} }).concurrency).toBe(8);
  });

  it("declares what the protocol carries: atime, quota, directories, streaming", () => {
    const b = new RestBackend({ url: "http://127.0.0.1:1/", env: {} });
    expect(b.capabilities).toMatchObject({ atime: true, quota: true, directories: true, streaming: true });
  });
});

describe("against our server (in-process, over posixfs)", () => {
  const root = mkdtempSync(join(tmpdir(), "borgstore-rest-edges-"));
  let server: RestServer;
  let url: string;
  beforeAll(async () => {
    const backend = await backendFromServerUrl(`FILE:${join(root, "store")}`);
    await backend.create();
    server = new RestServer(backend, { logger: quiet });
    const { port } = await server.listenTcp(0, "127.0.0.1");
    url = `http://127.0.0.1:${port}/`;
  });
  afterAll(async () => {
    await server?.shutdown(1000);
    await rm(root, { recursive: true, force: true });
  });

  it("loadStream of a range carries the whole value's length (total), also when the range is all of it; a whole read has none", async () => {
    const b = new RestBackend({ url, env: {} });
    await b.open();
    const value = randomBytes(1000);
    await b.store("v", value);
    const middle = await b.loadStream("v", { offset: 10, size: 20 });
    expect([middle.size, middle.total]).toEqual([20, 1000]);
    expect(Buffer.from(await collectBytes(middle)).equals(value.subarray(10, 30))).toBe(true);
    const all = await b.loadStream("v", { offset: -1000 });
    expect([all.size, all.total]).toEqual([1000, 1000]);
    expect(Buffer.from(await collectBytes(all)).equals(value)).toBe(true);
    const whole = await b.loadStream("v");
    expect([whole.size, whole.total]).toEqual([1000, undefined]);
    await collectBytes(whole);
    await b.close();
  });

  it("an upload with a signal leaves no abort listener of its own on it", async () => {
    const b = new RestBackend({ url, env: {} });
    await b.open();
    const value = randomBytes(5000);
    const sha256 = createHash("sha256").update(value).digest("hex");
    const controller = new AbortController();
    const upload = () => b.storeStream("signalled", once(value), { size: value.byteLength, sha256, signal: controller.signal });
    await upload();
    // core keeps one listener per signal for all its calls; each upload must take its own away.
    const after = getEventListeners(controller.signal, "abort").length;
    await upload();
    await upload();
    expect(getEventListeners(controller.signal, "abort").length).toBe(after);
    expect(Buffer.from(await b.load("signalled")).equals(value)).toBe(true);
    await b.close();
  });
});

describe("against a bare peer", () => {
  let responder: RawResponder;
  const backends: RestBackend[] = [];
  const backend = (options: { timeout?: number; retryDelay?: number } = {}) => {
    const b = new RestBackend({ url: `http://127.0.0.1:${responder.port}/`, env: {}, ...options });
    backends.push(b);
    return b;
  };
  beforeAll(async () => {
    responder = await RawResponder.start();
  });
  afterEach(async () => {
    for (const b of backends.splice(0)) if (b.opened) await b.close();
    responder.clear();
    responder.silent = false;
    responder.requests.length = 0;
  });
  afterAll(async () => {
    await responder?.stop();
  });

  it("a server that does not announce concurrent requests gets the session on open's own connection", async () => {
    const before = responder.connections;
    responder.respond(reply(200), reply(404));
    const b = backend();
    await b.open();
    expect((await b.info("x")).exists).toBe(false);
    expect(responder.connections - before).toBe(1);
  });

  it("info of a name the server refuses (403 to its HEAD) is PermissionDenied naming it", async () => {
    responder.respond(reply(200), reply(403));
    const b = backend();
    await b.open();
    const err = await b.info("secret").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermissionDenied);
    expect((err as Error).message).toContain("secret");
  });

  it("loadStream of a reply without Content-Length (chunked) collects it; of a suffix, keeps the slice's first bytes", async () => {
    responder.respond(
      reply(200),
      reply(200, [["Transfer-Encoding", "chunked"]], chunked("hello")),
      reply(206, [["Transfer-Encoding", "chunked"], ["Content-Range", "bytes 90-99/100"]], chunked("0123456789")),
    );
    const b = backend();
    await b.open();
    const whole = await b.loadStream("v");
    expect([whole.size, whole.total]).toEqual([5, undefined]);
    expect(Buffer.from(await collectBytes(whole)).toString()).toBe("hello");
    const slice = await b.loadStream("v", { offset: -10, size: 4 });
    expect(responder.requests.at(-1)?.headers).toContainEqual(["range", "bytes=-10"]);
    expect([slice.size, slice.total]).toEqual([4, 100]);
    expect(Buffer.from(await collectBytes(slice)).toString()).toBe("0123");
  });

  it("a reply whose total contradicts its own bytes is refused, never handed out with a total", async () => {
    // A Content-Range that is not the range asked for (bytes 0-9 of a 5-byte value cannot be) is
    // refused since breaker s13: which of its numbers is wrong cannot be told.
    responder.respond(reply(200), reply(206, [["Content-Range", "bytes 0-9/5"]], Buffer.from("0123456789")));
    const b = backend();
    await b.open();
    await expect(b.loadStream("v", { offset: 0, size: 10 })).rejects.toBeInstanceOf(BackendError);
  });

  it("a close() during the pause before a reconnect ends the call with the lost connection's error", async () => {
    responder.respond(reply(200));
    const b = backend({ timeout: 200, retryDelay: 1000 });
    await b.open();
    responder.silent = true;
    const loading = b.load("x").catch((e: unknown) => e);
    await until(() => responder.requests.some((r) => r.method === "GET"));
    await sleep(500);
    await b.close();
    expect(await loading).toBeInstanceOf(BackendConnectionError);
  });

  it("a load into a buffer whose connection was lost ends when its signal aborts, not after the pause before a reconnect", async () => {
    // With `into`, core answers the abort only once the backend's read ended: the pause must end with it.
    responder.respond(reply(200));
    const b = backend({ timeout: 200, retryDelay: 5000 });
    await b.open();
    responder.silent = true;
    const controller = new AbortController();
    const call = b.load("x", { signal: controller.signal, into: new Uint8Array(10) }).catch((e: unknown) => e);
    await until(() => responder.requests.length === 2);
    // undici's timers tick about once a second: by now the request timed out and the pause began.
    await sleep(1600);
    const aborted = Date.now();
    controller.abort();
    await call;
    expect(Date.now() - aborted).toBeLessThan(2000);
  });

  it("a storeStream of unknown length (spooled, sent without a signal of its own) makes no reconnect once its signal aborted", async () => {
    responder.respond(reply(200));
    const b = backend({ timeout: 200, retryDelay: 500 });
    await b.open();
    responder.silent = true;
    const controller = new AbortController();
    const call = b.storeStream("x", once(Buffer.from("abc")), { signal: controller.signal }).catch((e: unknown) => e);
    await until(() => responder.requests.length === 2);
    await sleep(300);
    controller.abort();
    await call;
    // past the request's timeout (undici's timers tick about once a second) and the pause after it
    await sleep(2000);
    expect(responder.requests.map((r) => r.method)).toEqual(["HEAD", "POST"]);
  });

  it("a listing that is no JSON array is a BackendError naming the directory; names that are not valid are left out", async () => {
    const json = (text: string) => reply(200, [], Buffer.from(text));
    responder.respond(reply(200), json('{"not": "a list"}'), json("{}"), json('[{"name": "ok", "size": 1}, {"name": "..", "size": 2}]'));
    const b = backend();
    await b.open();
    const names = async (dir: string) => {
      const found: string[] = [];
      for await (const item of b.list(dir)) found.push(item.name);
      return found;
    };
    await expect(names("")).rejects.toThrow("list of the root: the server sent no JSON array");
    await expect(names("data")).rejects.toThrow("list of data: the server sent no JSON array");
    expect(await names("")).toEqual(["ok"]);
  });

  it("a hash reply's surrounding blanks are not part of the hash", async () => {
    const digest = createHash("sha256").update("v").digest("hex");
    responder.respond(reply(200), reply(200, [], Buffer.from(` ${digest}\n`)));
    const b = backend();
    await b.open();
    expect(await b.hash("v")).toBe(digest);
  });

  it("far slices: an exact range after a HEAD only while 206 replies carry totals, at most three stale answers, then the tail", async () => {
    const value = randomBytes(1_000_000);
    const newer = randomBytes(2_000_000);
    const head = (length: number): RecordedResponse => ({ status: 200, reason: "OK", headers: [["Content-Length", String(length)]], body: Buffer.alloc(0) });
    const part = (from: Buffer, start: number, end: number, total: string) =>
      reply(206, [["Content-Range", `bytes ${start}-${end - 1}/${total}`]], from.subarray(start, end));
    const far = { offset: -500_000, size: 100 };
    const staleRound = [head(1_000_000), part(newer, 500_000, 500_100, "2000000")];
    responder.respond(
      reply(200),
      // a 206 without a total: the server's replies cannot tell which value a range came from
      part(value, 999_990, 1_000_000, "*"),
      part(value, 500_000, 1_000_000, "1000000"),
      reply(200, [], value.subarray(0, 10)),
      ...staleRound,
      ...staleRound,
      ...staleRound,
      part(newer, 1_500_000, 2_000_000, "2000000"),
    );
    const b = backend({ timeout: 3000 });
    await b.open();
    const asked = () => responder.requests.slice(1).map((r) => `${r.method} ${r.headers.find(([name]) => name === "range")?.[1] ?? ""}`.trim());
    expect(Buffer.from(await b.load("v", { offset: -10, size: 5 })).equals(value.subarray(999_990, 999_995))).toBe(true);
    // no totals seen yet: the tail, no HEAD
    expect(Buffer.from(await b.load("v", far)).equals(value.subarray(500_000, 500_100))).toBe(true);
    // a whole read (200) says nothing about ranged replies
    expect((await b.load("v")).byteLength).toBe(10);
    // overwritten each time between the HEAD and the range: three tries, then the tail of the newer value
    expect(Buffer.from(await b.load("v", far)).equals(newer.subarray(1_500_000, 1_500_100))).toBe(true);
    const exact = ["HEAD", "GET bytes=500000-500099"];
    expect(asked()).toEqual(["GET bytes=-10", "GET bytes=-500000", "GET", ...exact, ...exact, ...exact, "GET bytes=-500000"]);
  });
});

describe("storeStream with a size against a bare peer: streamed, or read whole first", () => {
  let responder: RawResponder;
  beforeAll(async () => {
    responder = await RawResponder.start();
  });
  afterAll(async () => {
    await responder?.stop();
  });
  const features = (verified: boolean): [string, string][] => (verified ? [[HEADERS.features, "verified-uploads"]] : []);
  const first = randomBytes(128 * 1024);
  const second = randomBytes(128 * 1024);
  const last = Buffer.from("the end");
  const size = first.byteLength + second.byteLength + last.byteLength;
  const sha256 = createHash("sha256").update(first).update(second).update(last).digest("hex");

  async function upload(verified: boolean, hash: string | undefined, source: (sent: () => number) => AsyncIterable<Uint8Array>) {
    responder.requests.length = 0;
    responder.respond(reply(200, features(verified)), reply(200));
    const b = new RestBackend({ url: `http://127.0.0.1:${responder.port}/`, env: {} });
    await b.open();
    const opened = responder.bytesIn;
    try {
      await b.storeStream("v", source(() => responder.bytesIn - opened), { size, sha256: hash });
    } finally {
      await b.close();
    }
    const post = responder.requests.find((r) => r.method === "POST");
    return { body: post?.body, hash: post?.headers.find(([name]) => name === CONTENT_HASH)?.[1] };
  }

  // The client sends each chunk once it has the next (withheldEnd): `first` is on its way once `second` is read.
  /** Yields its last bytes only once the peer received most of the first ones: a body read whole first never gets there. */
  const streamed = (sent: () => number) =>
    (async function* () {
      yield first;
      yield second;
      await until(() => sent() > first.byteLength / 2, 3000);
      yield last;
    })();

  /** Before its last bytes, checks that the peer received nothing yet: a body sent while read would have started. */
  const heldBack = (sent: () => number) =>
    (async function* () {
      yield first;
      yield second;
      await sleep(300);
      expect(sent()).toBe(0);
      yield last;
    })();

  it("a server that verifies uploads gets the body as it is read, without a hash when none was given", async () => {
    const got = await upload(true, undefined, streamed);
    expect(got.body?.byteLength).toBe(size);
    expect(got.hash).toBeUndefined();
  });

  it("any server gets the body as it is read when the caller gave its hash, with that hash", async () => {
    const got = await upload(false, sha256, streamed);
    expect(got.hash).toBe(sha256);
  });

  it("a server that does not verify uploads gets a body without a given hash only after it was read whole (and hashed)", async () => {
    const got = await upload(false, undefined, heldBack);
    expect(got.hash).toBe(sha256);
    expect(got.body?.byteLength).toBe(size);
  });
});

describe("over stdio", () => {
  const root = mkdtempSync(join(tmpdir(), "borgstore-rest-edges-stdio-"));
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  /** `rest://` URLs run `borgstore-server-rest`: this script, first on PATH. */
  function serverCommand(script: string): NodeJS.ProcessEnv {
    const bin = mkdtempSync(join(root, "bin-"));
    writeFileSync(join(bin, "borgstore-server-rest"), `#!/bin/sh\n${script}\n`);
    chmodSync(join(bin, "borgstore-server-rest"), 0o755);
    return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  }

  it("create fails when its child answers but then exits with an error", async () => {
    const env = serverCommand("printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'\ncat > /dev/null\necho 'disk on fire' >&2\nexit 3");
    const b = new RestBackend({ url: `rest:///${join(root, "failing")}`, env });
    await expect(b.create()).rejects.toThrow("disk on fire");
  });

  it("a storeStream whose source fails replaces the child at once: the next call needs no reconnect", async () => {
    const env = serverCommand(`exec "${process.execPath}" "${SERVER_CLI}" "$@"`);
    const b = new RestBackend({ url: `rest:///${join(root, "store")}`, retryDelay: 60_000, env });
    await b.create();
    await b.open();
    try {
      const broken = new Error("source broke");
      async function* half() {
        yield randomBytes(50);
        yield randomBytes(10);
        throw broken;
      }
      await expect(b.storeStream("x", half(), { size: 100, sha256: "0".repeat(64) })).rejects.toBe(broken);
      await b.store("y", Buffer.from("next"));
      expect(Buffer.from(await b.load("y")).toString()).toBe("next");
    } finally {
      await b.close();
    }
  }, 15_000);
});

/** A peer whose GET reply sends its head and half its body, then the rest only when told. */
class HalfBodyPeer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #rest: (() => void) | undefined;
  private constructor() {
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      socket.on("data", (data) => {
        for (const head of data.toString("latin1").split("\r\n\r\n").filter(Boolean)) {
          if (head.startsWith("HEAD ")) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
          else {
            socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
            this.#rest = () => socket.write("67890");
          }
        }
      });
    });
  }
  static async start(): Promise<HalfBodyPeer> {
    const peer = new HalfBodyPeer();
    await new Promise<void>((resolve) => peer.#server.listen(0, "127.0.0.1", resolve));
    return peer;
  }
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }
  sendRest(): void {
    this.#rest?.();
  }
  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

it("loadStream hands the body over as it arrives, before its last bytes are there", async () => {
  const peer = await HalfBodyPeer.start();
  const b = new RestBackend({ url: `http://127.0.0.1:${peer.port}/`, env: {} });
  try {
    await b.open();
    const stream = await Promise.race([b.loadStream("v"), sleep(2000).then(() => "still waiting" as const)]);
    if (stream === "still waiting") throw new Error("loadStream waited for the whole body");
    expect(stream.size).toBe(10);
    peer.sendRest();
    expect(Buffer.from(await collectBytes(stream)).toString()).toBe("1234567890");
  } finally {
    if (b.opened) await b.close();
    await peer.stop();
  }
});
