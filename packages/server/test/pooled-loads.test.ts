import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, type ServerProcess, rawRequest, startServer, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const SIZE = 4 * MiB;
const H: [string, string][] = [
  ["Host", "127.0.0.1"],
  ["Accept", ACCEPT],
  ["Authorization", AUTH],
];

/** GETs `name` on a fresh connection; the answer is read only once `startReading` resolves. */
function loadLater(port: number, name: string, startReading: Promise<void>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ port, host: "127.0.0.1" }, () => socket.write(rawRequest("GET", `/${name}`, H)));
    socket.pause();
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      const headerEnd = all.indexOf("\r\n\r\n");
      if (headerEnd >= 0 && all.length - headerEnd - 4 >= SIZE) {
        socket.destroy();
        resolve(all.subarray(headerEnd + 4, headerEnd + 4 + SIZE));
      }
    });
    startReading.then(() => socket.resume(), reject);
  });
}

async function store(base: string, name: string, value: Buffer): Promise<void> {
  const res = await fetch(`${base}/${name}`, { method: "POST", headers: { Accept: ACCEPT, Authorization: AUTH }, body: value });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

async function load(base: string, name: string): Promise<Buffer> {
  const res = await fetch(`${base}/${name}`, { headers: { Accept: ACCEPT, Authorization: AUTH } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe("loads read into reused buffers (real child server process, posixfs)", { timeout: 60_000 }, () => {
  const dir = tempDir();
  let server: ServerProcess;
  let base: string;
  const values = [randomBytes(SIZE), randomBytes(SIZE), randomBytes(SIZE)];

  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${join(dir.path, "store")}`, "--create"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    base = `http://127.0.0.1:${server.port}`;
    for (const [i, value] of values.entries()) await store(base, `v${i}`, value);
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("keeps an answer a client has not taken yet intact while other loads of other values run", async () => {
    let release = () => {};
    const reading = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Most of this answer stays in the server's process (the kernel's socket buffers take a
    // few MB at most) until the client reads: its buffer must not serve the loads after it.
    const stalled = loadLater(server.port, "v0", reading);
    await new Promise((r) => setTimeout(r, 300));
    for (let round = 0; round < 3; round++) {
      expect((await load(base, "v1")).equals(values[1] as Buffer)).toBe(true);
      expect((await load(base, "v2")).equals(values[2] as Buffer)).toBe(true);
    }
    release();
    expect((await stalled).equals(values[0] as Buffer)).toBe(true);
  });

  it("answers sequential loads of different values each with its own bytes", async () => {
    for (let round = 0; round < 4; round++)
      for (const [i, value] of values.entries()) expect((await load(base, `v${i}`)).equals(value)).toBe(true);
  });
});
