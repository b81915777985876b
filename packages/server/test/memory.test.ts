import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, type ServerProcess, resetPeak, startServer, statusKiB, tempDir } from "./helpers.js";

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const BLOCK = randomBytes(MiB);

function upload(port: number, name: string, size: number, sha256: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: `/${name}`,
        headers: { Accept: ACCEPT, Authorization: AUTH, "Content-Length": size, "X-Content-hash-sha256": sha256 },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += BLOCK.length;
        if (!req.write(BLOCK)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

function download(port: number, name: string): Promise<{ status: number; length: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, method: "GET", path: `/${name}`, headers: { Accept: ACCEPT, Authorization: AUTH } },
      (res) => {
        const hash = createHash("sha256");
        let length = 0;
        res.on("data", (chunk: Buffer) => {
          length += chunk.length;
          hash.update(chunk);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, length, sha256: hash.digest("hex") }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("memory use of a 1 GiB transfer (real child server process, posixfs)", () => {
  const dir = tempDir();
  let server: ServerProcess;
  let sha256: string;

  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${join(dir.path, "store")}`, "--create"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    const hash = createHash("sha256");
    for (let i = 0; i < GiB / MiB; i++) hash.update(BLOCK);
    sha256 = hash.digest("hex");
    // Warm up the code paths so their one-off allocations do not count.
    const warm = createHash("sha256");
    for (let i = 0; i < 8; i++) warm.update(BLOCK);
    expect(await upload(server.port, "warm", 8 * MiB, warm.digest("hex"))).toBe(200);
    expect((await download(server.port, "warm")).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("uploads 1 GiB raising the server's RSS by less than 64 MiB", async () => {
    const pid = server.child.pid as number;
    const before = resetPeak(pid);
    expect(await upload(server.port, "big", GiB, sha256)).toBe(200);
    const growth = statusKiB(pid, "VmHWM") - before;
    process.stderr.write(`upload 1 GiB: peak RSS growth ${(growth / MiB).toFixed(1)} MiB\n`);
    expect(growth).toBeLessThan(64 * MiB);
  }, 120_000);

  it("downloads 1 GiB raising the server's RSS by less than 64 MiB", async () => {
    const pid = server.child.pid as number;
    const before = resetPeak(pid);
    const got = await download(server.port, "big");
    expect(got).toEqual({ status: 200, length: GiB, sha256 });
    const growth = statusKiB(pid, "VmHWM") - before;
    process.stderr.write(`download 1 GiB: peak RSS growth ${(growth / MiB).toFixed(1)} MiB\n`);
    expect(growth).toBeLessThan(64 * MiB);
  }, 120_000);
});
