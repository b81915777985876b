import { readdirSync } from "node:fs";
import { type Socket, connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, header, RawConnection, rawRequest, type RunningServer, startInProcess, storeAndLoad, tempDir } from "./helpers.js";

const N = 8;

/**
 * A client that sends the headers of a 100 kB upload, then one byte every 200 ms (5 B/s), and
 * never reconnects. Resolves with how long the server let it hold its connection.
 */
function trickler(port: number, options: { auth: boolean; name: string; localAddress?: string }): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    let drip: NodeJS.Timeout | undefined;
    const socket: Socket = connect({ port, host: "127.0.0.1", localAddress: options.localAddress }, () => {
      const headers: [string, string][] = [
        ["Host", "127.0.0.1"],
        ["Accept", ACCEPT],
        ["Content-Length", "100000"],
      ];
      if (options.auth) headers.push(["Authorization", AUTH]);
      socket.write(rawRequest("POST", `/${options.name}`, headers));
      drip = setInterval(() => socket.write("x"), 200);
    });
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.once("close", () => {
      clearInterval(drip);
      resolve(Date.now() - started);
    });
  });
}

async function realClientWork(port: number, prefix: string, count: number): Promise<{ ms: number; retries: number }> {
  const started = Date.now();
  let retries = 0;
  for (let i = 0; i < count; i++) retries += (await storeAndLoad(`http://127.0.0.1:${port}`, `${prefix}${i}`)).retries;
  return { ms: Date.now() - started, retries };
}

describe("admission: slow clients cannot keep the connection slots", { timeout: 30_000 }, () => {
  const dir = tempDir();
  const servers: RunningServer[] = [];
  afterAll(async () => {
    for (const s of servers) expect(await s.stop()).toBe(0);
    dir.remove();
  });

  async function start(name: string, extra: string[]): Promise<RunningServer> {
    const server = await startInProcess(["--backend", `FILE:${join(dir.path, name)}`, "--create", "--max-connections", String(N), "--shutdown-timeout", "1", ...extra], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    servers.push(server);
    return server;
  }

  it("cuts 2×max-connections trickling uploads (with and without credentials) within the rate bound, while a real client keeps working", async () => {
    // One address for everyone, as behind a reverse proxy: only the rate protects the slots.
    const server = await start("rate", ["--max-connections-per-address", "0", "--min-rate", "1000", "--rate-window", "1"]);
    // The authenticated ones first, so they hold the slots (unauthenticated ones get a 401 and are
    // closed at once, or are refused while the slots are full): the rate guard must cut them.
    const slow = Array.from({ length: N }, (_, i) => trickler(server.port, { auth: true, name: `slow${i}` }));
    await new Promise((r) => setTimeout(r, 100));
    slow.push(...Array.from({ length: N }, (_, i) => trickler(server.port, { auth: false, name: `slow${N + i}` })));
    await new Promise((r) => setTimeout(r, 100));
    const real = await realClientWork(server.port, "real", 20);
    const held = await Promise.all(slow);
    // Two windows of 1 s to be found slow, plus scheduling slack; the 401 drain bound is 5 s.
    for (const ms of held) expect(ms).toBeLessThan(6_000);
    expect(real.ms).toBeLessThan(15_000);
    expect(server.stderr()).toContain("cut a slow connection");
    // Nothing of the cut uploads was stored, and no temp file is left.
    const files = readdirSync(join(dir.path, "rate"), { recursive: true }).map(String);
    expect(files.filter((f) => f.includes("slow") || f.endsWith(".tmp"))).toEqual([]);
  });

  it("lets one address hold at most --max-connections-per-address connections, so other clients get in at once", async () => {
    // Rate limiting off: only the per-address cap protects the slots here.
    const server = await start("per-address", ["--max-connections-per-address", "3", "--min-rate", "0"]);
    let open = 0;
    const slow = Array.from({ length: 2 * N }, (_, i) => {
      open++;
      // With credentials: an unauthenticated one is answered 401 and closed at once.
      return trickler(server.port, { auth: true, name: `hog${i}`, localAddress: "127.0.0.2" }).then((ms) => {
        open--;
        return ms;
      });
    });
    // The refused ones close at once; allow for a loaded machine.
    for (const deadline = Date.now() + 5_000; open > 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(open).toBe(3);
    const real = await realClientWork(server.port, "other", 10);
    expect(real.retries).toBe(0);
    expect(open).toBe(3);
    await server.stop();
    await Promise.all(slow);
  });

  it("cuts a client that does not read a large response", async () => {
    const server = await start("reader", ["--min-rate", "1000", "--rate-window", "1"]);
    const size = 48 * 1024 * 1024;
    const conn = await RawConnection.open(server.port);
    const H: [string, string][] = [
      ["Host", "127.0.0.1"],
      ["Accept", ACCEPT],
      ["Authorization", AUTH],
    ];
    conn.send(rawRequest("POST", "/big", [...H, ["Content-Length", String(size)]], Buffer.alloc(size, 7)));
    expect((await conn.response({ timeoutMs: 30_000 })).status).toBe(200);
    conn.close();

    const started = Date.now();
    let received = 0;
    const reader = connect(server.port, "127.0.0.1", () => reader.write(rawRequest("GET", "/big", H)));
    reader.on("error", () => {});
    const closed = new Promise<void>((resolve) => reader.once("close", () => resolve()));
    reader.once("data", (d: Buffer) => {
      received += d.length;
      reader.pause(); // and never read again
    });
    while (!server.stderr().includes("cut a slow connection") && Date.now() - started < 10_000)
      await new Promise((r) => setTimeout(r, 100));
    expect(Date.now() - started).toBeLessThan(10_000);
    reader.on("data", (d: Buffer) => (received += d.length));
    reader.resume();
    await closed;
    expect(received).toBeLessThan(size);
  });

  it("answers a 401 whose body does not arrive with Connection: close, then closes", async () => {
    const server = await start("unauth", ["--min-rate", "0"]);
    const conn = await RawConnection.open(server.port);
    const started = Date.now();
    conn.send(rawRequest("POST", "/x", [["Host", "127.0.0.1"], ["Accept", ACCEPT], ["Content-Length", "1000"]], "only a part"));
    const denied = await conn.response({ timeoutMs: 10_000 });
    expect(denied.status).toBe(401);
    expect(header(denied, "Connection")).toBe("close");
    expect(await conn.waitClosed(2_000)).toBe(true);
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});
