import { randomBytes } from "node:crypto";
import { type Socket, connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, rawRequest, type RunningServer, startInProcess, storeAndLoad, tempDir } from "./helpers.js";

const N = 6;
const H: [string, string][] = [
  ["Host", "127.0.0.1"],
  ["Accept", ACCEPT],
  ["Authorization", AUTH],
];

/**
 * A client that GETs `name` and then takes the answer at about 300 B/s (30 bytes every 100 ms
 * from its socket; the kernel's buffers fill, then TCP holds the server to the client's pace).
 */
function slowReader(port: number, name: string): Socket {
  const socket: Socket = connect({ port, host: "127.0.0.1" }, () => {
    socket.write(rawRequest("GET", `/${name}`, H));
    const sip = setInterval(() => socket.read(30), 100);
    socket.once("close", () => clearInterval(sip));
  });
  socket.pause();
  socket.on("error", () => {});
  return socket;
}

describe("slow readers cannot keep the connection slots", { timeout: 60_000 }, () => {
  const dir = tempDir();
  const servers: RunningServer[] = [];
  afterAll(async () => {
    for (const s of servers) expect(await s.stop()).toBe(0);
    dir.remove();
  });

  async function start(name: string, maxConnections: number): Promise<RunningServer> {
    const server = await startInProcess(
      ["--backend", `FILE:${join(dir.path, name)}`, "--create", "--max-connections", String(maxConnections), "--max-connections-per-address", "0", "--min-rate", "1000", "--rate-window", "1", "--shutdown-timeout", "1"],
      { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" },
    );
    servers.push(server);
    const put = await fetch(`http://127.0.0.1:${server.port}/big`, { method: "POST", headers: { Accept: ACCEPT, Authorization: AUTH }, body: randomBytes(name === "small" ? 60_000 : 4_000_000) });
    expect(put.status).toBe(200);
    return server;
  }

  it("cuts readers taking a 4 MB answer at 300 B/s within two rate windows (what the kernel holds unsent counts as unread)", async () => {
    const server = await start("large-alone", 4 * N);
    const slow = Array.from({ length: N }, () => slowReader(server.port, "big"));
    const started = Date.now();
    const cuts = () => server.stderr().split("cut a slow connection").length - 1;
    while (cuts() < N && Date.now() - started < 15_000) await new Promise((r) => setTimeout(r, 100));
    // Two windows of 1 s, plus slack for a loaded machine.
    expect(cuts()).toBe(N);
    expect(Date.now() - started).toBeLessThan(15_000);
    for (const socket of slow) socket.destroy();
  });

  for (const [name, size] of [["small", "60 kB"], ["large", "4 MB"]] as const)
    it(`lets a real client keep storing and loading while 2×max-connections readers take a ${size} answer at 300 B/s`, async () => {
      const server = await start(name, N);
      const base = `http://127.0.0.1:${server.port}`;
      const slow = Array.from({ length: 2 * N }, () => slowReader(server.port, "big"));
      await new Promise((r) => setTimeout(r, 200));
      const started = Date.now();
      for (let i = 0; i < 20; i++) await storeAndLoad(base, `real${i}`);
      // A slot frees within two windows of 1 s, plus slack for a loaded machine.
      expect(Date.now() - started).toBeLessThan(20_000);
      for (const socket of slow) socket.destroy();
    });
});
