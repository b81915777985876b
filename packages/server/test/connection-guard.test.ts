import { connect, type Socket } from "node:net";
import { Writable } from "node:stream";
import { type LoadOptions, MemoryBackend } from "@borgstore/core";
import { afterEach, describe, expect, it } from "vitest";
import { Logger, RestServer, type RestServerOptions } from "../src/index.js";
import { ACCEPT, RawConnection, rawRequest, singleHost } from "./helpers.js";

// The rate guard and the per-address cap in this process, with rate windows of 100 ms (the CLI's
// smallest is 1 s: admission.test.ts and slow-readers.test.ts check those end to end, in seconds).
const WINDOW = 100;
/**
 * For the tests that must not see a cut: an event loop stalled longer than a window (a loaded
 * machine) leaves the next tick blind to what arrived meanwhile, which would look like a slow client.
 */
const CALM_WINDOW = 500;
/** A cut comes after two slow windows; generous for a loaded machine. */
const CUT_WITHIN = 5_000;
const H: [string, string][] = [
  ["Host", "127.0.0.1"],
  ["Accept", ACCEPT],
];

/** Loads wait this long first: the server waits on itself, never on the client. */
class SlowLoads extends MemoryBackend {
  constructor(readonly delayMs: number) {
    super();
  }
  protected override async _load(name: string, options: LoadOptions): Promise<Uint8Array> {
    await later(this.delayMs);
    return super._load(name, options);
  }
}

function later(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Running {
  port: number;
  log(): string;
  server: RestServer;
}

const running: RestServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.shutdown(100);
});

async function start(options: RestServerOptions, backend: MemoryBackend = new MemoryBackend()): Promise<Running> {
  await backend.create();
  let log = "";
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log += chunk.toString();
      done();
    },
  });
  const server = new RestServer(backend, { logger: new Logger("debug", out), rateWindowMs: WINDOW, ...options });
  running.push(server);
  const { port } = await server.listenTcp(0, "127.0.0.1");
  return { port, log: () => log, server };
}

function open(port: number, localAddress = "127.0.0.1"): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress }, () => {
      const started = Date.now();
      resolve({ socket, closed: new Promise((r) => socket.once("close", () => r(Date.now() - started))) });
    });
    socket.on("error", () => {});
    socket.once("error", reject);
  });
}

async function closedWithin(closed: Promise<number>, ms: number): Promise<boolean> {
  return Promise.race([closed.then(() => true), later(ms).then(() => false)]);
}

describe("ConnectionGuard: the minimum rate", () => {
  it("cuts an upload whose body stops arriving after two slow windows, and logs what it got", async () => {
    const s = await start({ minRate: 10_000 });
    const conn = await RawConnection.open(s.port);
    conn.send(rawRequest("POST", "/trickle", [...H, ["Content-Length", "100000"]], "0123456789"));
    expect(await conn.waitClosed(CUT_WITHIN)).toBe(true);
    expect(s.log()).toMatch(/cut a slow connection from 127\.0\.0\.1: 0 bytes in 0\.1 s \(--min-rate 10000\)/);
    // Nothing half-stored.
    await expect(singleHost(s.server).use((b) => b.info("trickle"))).resolves.toMatchObject({ exists: false });
  });

  it("cuts an upload that trickles below the rate, and logs the bytes it got in the last window", async () => {
    const s = await start({ minRate: 10_000 });
    // A stalled event loop can leave a window without bytes: a few tries for one that had some.
    let got = 0;
    for (let attempt = 0; attempt < 5 && got === 0; attempt++) {
      const conn = await RawConnection.open(s.port);
      conn.send(rawRequest("POST", "/slow", [...H, ["Content-Length", "100000"]]));
      // 20 bytes every 20 ms: about 100 bytes a window, where 1000 are due.
      const trickle = setInterval(() => conn.send(Buffer.alloc(20, 1)), 20);
      try {
        expect(await conn.waitClosed(CUT_WITHIN)).toBe(true);
      } finally {
        clearInterval(trickle);
      }
      const cuts = [...s.log().matchAll(/cut a slow connection from 127\.0\.0\.1: (\d+) bytes in 0\.1 s/g)];
      expect(cuts).toHaveLength(attempt + 1);
      got = Number(cuts.at(-1)?.[1]);
    }
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(1000);
  });

  it("lets an upload that keeps up the rate finish, however long it takes", async () => {
    const s = await start({ minRate: 2_000, rateWindowMs: CALM_WINDOW });
    // A cut is a failure unless this process stalled meanwhile (see CALM_WINDOW): then try again.
    for (let attempt = 0; ; attempt++) {
      const conn = await RawConnection.open(s.port);
      const size = 40 * 1000;
      conn.send(rawRequest("POST", `/steady${attempt}`, [...H, ["Content-Length", String(size)]]));
      // 500 bytes every 20 ms: ~25 kB/s against 2 kB/s, over 3 windows and more.
      let stalled = false;
      for (let sent = 0; sent < size && !conn.closed; sent += 500) {
        conn.send(Buffer.alloc(500, 1));
        const before = Date.now();
        await later(20);
        stalled ||= Date.now() - before > CALM_WINDOW / 2;
      }
      if (conn.closed && stalled && attempt < 4) continue;
      expect((await conn.response()).status).toBe(200);
      conn.close();
      break;
    }
  });

  it("never cuts a request while the server itself is slow, nor a keep-alive connection between requests", async () => {
    const backend = new SlowLoads(3 * CALM_WINDOW);
    const s = await start({ minRate: 10_000, rateWindowMs: CALM_WINDOW }, backend);
    await singleHost(s.server).use((b) => b.store("slow", new Uint8Array([1, 2, 3])));
    const conn = await RawConnection.open(s.port);
    conn.send(rawRequest("GET", "/slow", H));
    const loaded = await conn.response();
    expect(loaded.status).toBe(200);
    expect([...loaded.body]).toEqual([1, 2, 3]);
    // Idle on the open connection for several windows, then another request on it.
    await later(3 * CALM_WINDOW);
    expect(conn.closed).toBe(false);
    conn.send(rawRequest("HEAD", "/slow", H));
    expect((await conn.response({ head: true })).status).toBe(200);
    conn.close();
    expect(s.log()).not.toContain("cut a slow connection");
  });

  it("cuts a client that stops reading a large answer", async () => {
    const s = await start({ minRate: 10_000 });
    const size = 32 * 1024 * 1024;
    await singleHost(s.server).use((b) => b.store("big", new Uint8Array(size)));
    const { socket, closed } = await open(s.port);
    let received = 0;
    socket.once("data", (d: Buffer) => {
      received += d.length;
      socket.pause(); // and never read again
    });
    socket.write(rawRequest("GET", "/big", H));
    const started = Date.now();
    while (!s.log().includes("cut a slow connection from 127.0.0.1") && Date.now() - started < CUT_WITHIN) await later(20);
    expect(s.log()).toContain("cut a slow connection from 127.0.0.1");
    // A paused socket sees the reset only once it reads again.
    socket.on("data", (d: Buffer) => (received += d.length));
    socket.resume();
    await closed;
    expect(received).toBeLessThan(size);
  });

  it("cuts a client that stops reading an answer the kernel took whole (only its send queue shows it unread)", async () => {
    const s = await start({ minRate: 10_000 });
    const size = 1024 * 1024;
    await singleHost(s.server).use((b) => b.store("kernel", new Uint8Array(size)));
    const { socket, closed } = await open(s.port);
    socket.pause(); // never reads
    socket.write(rawRequest("GET", "/kernel", H));
    const started = Date.now();
    while (!s.log().includes("cut a slow connection from 127.0.0.1") && Date.now() - started < CUT_WITHIN) await later(20);
    expect(s.log()).toContain("cut a slow connection from 127.0.0.1");
    socket.resume();
    await closed;
  });

  it("with --min-rate 0 lets a stalled upload be", async () => {
    const s = await start({ minRate: 0 });
    const conn = await RawConnection.open(s.port);
    conn.send(rawRequest("POST", "/stalled", [...H, ["Content-Length", "100"]], "0123456789"));
    expect(await conn.waitClosed(5 * WINDOW)).toBe(false);
    conn.send(Buffer.alloc(90, 1));
    expect((await conn.response()).status).toBe(200);
    conn.close();
    await expect(singleHost(s.server).use((b) => b.info("stalled"))).resolves.toMatchObject({ exists: true, size: 100 });
  });
});

describe("ConnectionGuard: connections per address", () => {
  it("refuses connections from one address beyond the cap, counts closes, and other addresses are not held back", async () => {
    const s = await start({ minRate: 0, maxConnectionsPerAddress: 2 });
    await singleHost(s.server).use((b) => b.store("there", new Uint8Array(1)));
    const first = await open(s.port);
    const second = await open(s.port);
    const third = await open(s.port);
    expect(await closedWithin(third.closed, CUT_WITHIN)).toBe(true);
    expect(s.log()).toContain("refused a connection from 127.0.0.1: 2 already open (--max-connections-per-address)");
    // Another address has its own count.
    const other = await open(s.port, "127.0.0.2");
    // One of the two closes: its slot is free again, for one connection only.
    first.socket.destroy();
    await first.closed;
    await later(50);
    const again = await RawConnection.open(s.port);
    again.send(rawRequest("HEAD", "/there", H));
    expect((await again.response({ head: true })).status).toBe(200);
    const oneTooMany = await open(s.port);
    expect(await closedWithin(oneTooMany.closed, CUT_WITHIN)).toBe(true);
    expect(await closedWithin(second.closed, 50)).toBe(false);
    expect(await closedWithin(other.closed, 50)).toBe(false);
    again.close();
    second.socket.destroy();
    other.socket.destroy();
  });

  it("counts an IPv4 client of a dual-stack listener by its IPv4 address", async () => {
    const backend = new MemoryBackend();
    await backend.create();
    let log = "";
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        log += chunk.toString();
        done();
      },
    });
    const server = new RestServer(backend, { logger: new Logger("debug", out), minRate: 0, maxConnectionsPerAddress: 1 });
    running.push(server);
    const { port } = await server.listenTcp(0, "::");
    const first = await open(port);
    const second = await open(port);
    expect(await closedWithin(second.closed, CUT_WITHIN)).toBe(true);
    expect(log).toContain("refused a connection from 127.0.0.1: 1 already open");
    first.socket.destroy();
  });

  it("with 0 has no cap", async () => {
    const s = await start({ minRate: 0, maxConnectionsPerAddress: 0 });
    const conns = await Promise.all(Array.from({ length: 40 }, () => open(s.port)));
    for (const c of conns) expect(await closedWithin(c.closed, 10)).toBe(false);
    for (const c of conns) c.socket.destroy();
    expect(s.log()).not.toContain("refused a connection");
  });
});
