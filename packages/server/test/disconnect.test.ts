import { writeFileSync } from "node:fs";
import { type Socket, connect } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, CREDENTIALS, placeObject, request, type RunningServer, startInProcess, tempDir } from "./helpers.js";

/** Generous bounds for a loaded 2-core CI machine; the old code waited for good (or for the rate guard). */
const PROMPT_MS = 3000;

function head(method: string, target: string, extra = ""): string {
  return `${method} ${target} HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\n${extra}\r\n`;
}

async function open(port: number, options: { receiveBuffer?: number } = {}): Promise<Socket> {
  const socket = connect({ port, host: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  if (options.receiveBuffer) socket.pause();
  return socket;
}

/** Everything the server sends until it closes the connection (or `limitMs` passes). */
function readUntilClosed(socket: Socket, limitMs: number): Promise<{ text: string; closed: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let text = "";
    const timer = setTimeout(() => resolve({ text, closed: false, ms: Date.now() - started }), limitMs);
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true, ms: Date.now() - started });
    });
  });
}

const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a request whose connection is gone ends with it (in-process server, posixfs)", () => {
  const dir = tempDir();
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });
  afterAll(() => dir.remove());

  async function start(name: string, ...args: string[]): Promise<{ port: number; store: string }> {
    const store = join(dir.path, name);
    server = await startInProcess(["--backend", `FILE:${store}`, "--create", "--wait-limit", "1000", ...args], CREDENTIALS);
    return { port: server.port, store };
  }

  it("a GET pipelined behind an error page (Connection: close) never starts: create/destroy are not blocked afterwards, and SIGTERM exits", async () => {
    const { port } = await start("pipe-err");
    expect((await request(port, "POST", "/obj", { body: "x".repeat(100) })).status).toBe(200);
    const socket = await open(port);
    socket.write(head("GET", "/missing") + head("GET", "/obj"));
    const answer = await readUntilClosed(socket, 5000);
    expect(answer.closed).toBe(true);
    expect(answer.text).toMatch(/^HTTP\/1\.1 404 /);
    // Before the fix the queued GET stayed "active" for good: create and destroy got 503.
    expect((await request(port, "POST", "/?cmd=create")).status).toBe(409);
    expect((await request(port, "DELETE", "/?cmd=destroy")).status).toBe(200);
    expect((await request(port, "POST", "/?cmd=create")).status).toBe(200);
    // Nothing left running: shutdown closes the backend and exits at once.
    const started = Date.now();
    expect(await server?.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(PROMPT_MS * 2);
    server = undefined;
  }, 30_000);

  it("a client reset during a large answer, with GETs pipelined behind it, leaves nothing running", async () => {
    const { port, store } = await start("rst");
    expect((await request(port, "POST", "/small", { body: "s".repeat(10) })).status).toBe(200);
    expect((await request(port, "POST", "/mid", { body: Buffer.alloc(1_000_000, 1) })).status).toBe(200);
    placeObject(store, "big", 50_000_000);
    for (const second of ["/small", "/mid"]) {
      const socket = await open(port, { receiveBuffer: 8192 });
      socket.write(head("GET", "/big") + head("GET", second));
      await later(500);
      socket.resetAndDestroy();
      await later(300);
      const create = await request(port, "POST", "/?cmd=create");
      expect(create.status, `after a reset with ${second} queued`).toBe(409);
    }
  }, 30_000);

  it("SIGTERM ends a defrag whose client has gone, within the shutdown timeout", async () => {
    const { port, store } = await start("defrag", "--shutdown-timeout", "3");
    writeFileSync(join(store, "a"), "A".repeat(100));
    const body = `[${Array.from({ length: 400_000 }, () => '["a",0,0]').join(",")}]`;
    const socket = await open(port);
    socket.write(head("POST", "/?cmd=defrag&algorithm=sha256&levels=1000000000", `Content-Length: ${Buffer.byteLength(body)}\r\n`));
    socket.write(body);
    await later(1500);
    socket.destroy();
    await later(300);
    const started = Date.now();
    const code = await Promise.race([server?.stop(), later(20_000).then(() => "still running")]);
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    server = undefined;
  }, 40_000);

  it("a pending create never makes other clients wait: a HEAD sent meanwhile is answered at once", async () => {
    const { port, store } = await start("spam", "--wait-limit", "6000", "--memory-budget", "0");
    placeObject(store, "big", 64 * 1024 * 1024);
    expect((await request(port, "POST", "/small", { body: "s" })).status).toBe(200);
    // A download the client does not read keeps one operation running.
    const stalled = await open(port, { receiveBuffer: 4096 });
    stalled.write(head("GET", "/big"));
    await later(500);
    const creating = request(port, "POST", "/?cmd=create");
    await later(200);
    const started = Date.now();
    const small = await request(port, "GET", "/small");
    expect(small.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    stalled.destroy();
    // The create gets its turn once the download is gone.
    expect((await creating).status).toBe(409);
  }, 30_000);

  it("a read-only client's upload gets 403 and a close at once, without the server waiting for its body", async () => {
    const { port } = await start("ro", "--permissions", "borgbackup-read-only");
    const socket = await open(port);
    socket.write(head("POST", "/data/x", "Content-Length: 1000\r\n"));
    const answer = await readUntilClosed(socket, 10_000);
    expect(answer.text).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer.text).toMatch(/Connection: close/i);
    expect(answer.closed).toBe(true);
    expect(answer.ms).toBeLessThan(PROMPT_MS);
  }, 20_000);

  it("a 401 to an upload whose small body has not arrived is answered and closed at once, not after waiting for the body", async () => {
    const { port } = await start("unauth");
    const socket = await open(port);
    socket.write(`POST /data/x HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT}\r\nContent-Length: 1000\r\n\r\nonly a part`);
    const answer = await readUntilClosed(socket, 10_000);
    expect(answer.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.text).toMatch(/Connection: close/i);
    expect(answer.closed).toBe(true);
    expect(answer.ms).toBeLessThan(PROMPT_MS);
  }, 20_000);

  it("a 413 to an upload over --max-object-size is answered and closed at once, its body never read", async () => {
    const { port } = await start("too-big", "--max-object-size", "100");
    const socket = await open(port);
    socket.write(`${head("POST", "/data/x", "Content-Length: 1000\r\n")}only a part`);
    const answer = await readUntilClosed(socket, 10_000);
    expect(answer.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.closed).toBe(true);
    expect(answer.ms).toBeLessThan(PROMPT_MS);
  }, 20_000);

  it("an error page to a request whose small body has not arrived (406) is answered and closed at once", async () => {
    const { port } = await start("not-acceptable");
    const socket = await open(port);
    socket.write(`POST /data/x HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nAuthorization: ${AUTH}\r\nContent-Length: 1000\r\n\r\nonly a part`);
    const answer = await readUntilClosed(socket, 10_000);
    expect(answer.text).toMatch(/^HTTP\/1\.1 406 /);
    expect(answer.closed).toBe(true);
    expect(answer.ms).toBeLessThan(PROMPT_MS);
  }, 20_000);

  it("a 401 to an upload whose body has arrived whole keeps the connection for the next request", async () => {
    const { port } = await start("unauth-whole");
    const socket = await open(port);
    socket.write(`POST /data/x HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT}\r\nContent-Length: 5\r\n\r\nwhole${head("HEAD", "/data/x")}`);
    const answer = await readUntilClosed(socket, 1_500);
    expect(answer.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.text).toMatch(/HTTP\/1\.1 404 /);
    socket.destroy();
  }, 20_000);

  it("a client that half-closes in the middle of a body frees its connection at once", async () => {
    const { port } = await start("fin");
    const socket = await open(port);
    socket.write(`${head("POST", "/x", "Content-Length: 1000\r\n")}${"x".repeat(10)}`);
    socket.end();
    const answer = await readUntilClosed(socket, 10_000);
    expect(answer.closed).toBe(true);
    expect(answer.ms).toBeLessThan(PROMPT_MS);
    expect((await request(port, "HEAD", "/x")).status).toBe(404);
  }, 20_000);
});

describe("a connection refused as unreadable frees its slot as soon as the client closes", () => {
  const dir = tempDir();
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  it("40 quick sessions of garbage from one address, then a well-formed request is still served (--max-connections-per-address 32)", async () => {
    server = await startInProcess(["--backend", `FILE:${join(dir.path, "s")}`, "--create"], CREDENTIALS);
    const port = server.port;
    for (let i = 0; i < 40; i++) {
      const socket = await open(port);
      socket.write("GET / HTTP/1.1\r\nBad Header\r\n\r\n");
      const answer = await readUntilClosed(socket, 5000);
      expect(answer.text).toMatch(/^HTTP\/1\.1 400 /);
      socket.destroy();
    }
    expect((await request(port, "GET", "/")).status).toBe(200);
  }, 30_000);
});
