import { createHash, randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, type RunningServer, startInProcess, tempDir } from "./helpers.js";

// Uploads from 256 KiB on, held whole, are hashed on the server's hashing thread (hash-thread.ts)
// from the pooled shared buffer they land in: these tests check that what is stored and what is
// refused is decided by the bytes of that very upload, under concurrency and buffer reuse.

const KiB = 1024;
const MiB = 1024 * KiB;
const sha256 = (value: Buffer) => createHash("sha256").update(value).digest("hex");

interface Reply {
  status: number;
  complete: boolean;
  body: Buffer;
}

function send(port: number, method: "GET" | "POST", path: string, body?: Buffer, hash?: string): Promise<Reply> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { Accept: ACCEPT, Authorization: AUTH };
    if (body) headers["Content-Length"] = String(body.byteLength);
    if (hash) headers["X-Content-hash-sha256"] = hash;
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      const done = () => resolve({ status: res.statusCode ?? 0, complete: res.complete, body: Buffer.concat(chunks) });
      res.on("end", done);
      res.on("error", done);
    });
    req.on("error", () => resolve({ status: 0, complete: false, body: Buffer.alloc(0) }));
    req.end(body);
  });
}

/** Every file below `dir`, relative to it. */
function filesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length))
    .sort();
}

describe("uploads hashed on the hashing thread (in-process server, posixfs, default memory budget)", () => {
  const dir = tempDir();
  const storeDir = join(dir.path, "store");
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${storeDir}`, "--create"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
  });

  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  it("stores each of many concurrent uploads of other sizes to one name whole, refuses the ones whose hash is off, and readers see only whole values", async () => {
    const values = [300 * KiB, MiB, 3 * MiB + 17, 5 * MiB].map((size) => randomBytes(size));
    const name = "/data/racy";
    expect((await send(server.port, "POST", name, values[0], sha256(values[0] as Buffer))).status).toBe(200);
    const until = Date.now() + 2_500;
    const refused: number[] = [];
    const wrong: string[] = [];
    const writer = async (k: number) => {
      for (let i = k; Date.now() < until; i++) {
        const value = values[i % values.length] as Buffer;
        // Every third upload announces the hash of another value of the same size: it must fail.
        const forged = i % 3 === 0;
        const hash = forged ? sha256(Buffer.concat([value.subarray(1), Buffer.from([value[0] ?? 0])])) : sha256(value);
        const reply = await send(server.port, "POST", name, value, hash);
        if (forged) refused.push(reply.status);
        else if (reply.status !== 200) wrong.push(`store of ${value.byteLength} bytes: ${reply.status}`);
      }
    };
    const reader = async () => {
      while (Date.now() < until) {
        const reply = await send(server.port, "GET", name);
        if (!reply.complete) continue;
        if (reply.status !== 200 || !values.some((v) => v.equals(reply.body))) wrong.push(`read ${reply.status}, ${reply.body.byteLength} bytes`);
      }
    };
    await Promise.all([writer(0), writer(1), writer(2), reader(), reader()]);
    expect(wrong).toEqual([]);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((status) => status === 422)).toBe(true);
    const last = await send(server.port, "GET", name);
    expect(values.some((v) => v.equals(last.body))).toBe(true);
  }, 30_000);

  it("stores sequential uploads of one size with other contents each as sent (reused buffers)", async () => {
    for (let i = 0; i < 6; i++) {
      const value = randomBytes(2 * MiB);
      expect((await send(server.port, "POST", `/data/seq${i}`, value, sha256(value))).status).toBe(200);
      // A forged one in between must not leave its bytes in the next upload's hash.
      const forged = randomBytes(2 * MiB);
      expect((await send(server.port, "POST", `/data/seq${i}`, forged, sha256(value))).status).toBe(422);
      expect((await send(server.port, "GET", `/data/seq${i}`)).body.equals(value)).toBe(true);
    }
  }, 30_000);

  it("leaves nothing behind for an upload whose client disconnects in the middle of its body, and goes on serving", async () => {
    const before = filesBelow(storeDir);
    const value = randomBytes(4 * MiB);
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port: server.port }, () => {
        const head =
          `POST /data/cut HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\n` +
          `Content-Length: ${value.byteLength}\r\nX-Content-hash-sha256: ${sha256(value)}\r\n\r\n`;
        socket.write(head);
        socket.write(value.subarray(0, 2 * MiB), () => setTimeout(() => socket.destroy(), 100));
      });
      socket.on("close", () => resolve());
      socket.on("error", reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await send(server.port, "GET", "/data/cut")).status).toBe(404);
    expect(filesBelow(storeDir)).toEqual(before);
    expect((await send(server.port, "POST", "/data/cut", value, sha256(value))).status).toBe(200);
    expect((await send(server.port, "GET", "/data/cut")).body.equals(value)).toBe(true);
  }, 30_000);
});
