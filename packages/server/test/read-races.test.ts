import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, type RunningServer, startInProcess, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
/** Two values of different sizes and contents: a prefix of one, or a mix, equals neither. */
const VALUES = [randomBytes(3 * MiB), randomBytes(2 * MiB)];
const NAME = "data/racy";
const RACE_MS = 3_000;

interface Reply {
  status: number;
  /** The body arrived whole (as many bytes as Content-Length, connection not cut). */
  complete: boolean;
  body: Buffer;
}

function send(port: number, method: "GET" | "POST", path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  return new Promise((resolve) => {
    const all: Record<string, string> = { Accept: ACCEPT, Authorization: AUTH, ...headers };
    if (body) all["Content-Length"] = String(body.byteLength);
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers: all, agent: false }, (res) => {
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

/** Which stored value `body` is (or the `from`-onwards slice of), or -1 for anything else. */
function whichValue(body: Buffer, from: number): number {
  return VALUES.findIndex((value) => value.subarray(from).equals(body));
}

describe("GET while the same name is overwritten with values of other sizes (real server process, --memory-budget 0)", () => {
  const dir = tempDir();
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${join(dir.path, "store")}`, "--create", "--memory-budget", "0"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    expect((await send(server.port, "POST", `/${NAME}`, {}, VALUES[0])).status).toBe(200);
  });

  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  it("answers every complete 200/206 with exactly one stored value (or its requested slice), never a prefix or a mix", async () => {
    const until = Date.now() + RACE_MS;
    let writes = 0;
    const writer = async () => {
      for (let i = 1; Date.now() < until; i++) {
        const reply = await send(server.port, "POST", `/${NAME}`, {}, VALUES[i % 2]);
        expect(reply.status).toBe(200);
        writes++;
      }
    };
    const seen = { whole: 0, cut: 0, wrong: [] as string[] };
    const reader = async (from: number) => {
      const headers: Record<string, string> = from > 0 ? { Range: `bytes=${from}-` } : {};
      while (Date.now() < until) {
        const reply = await send(server.port, "GET", `/${NAME}`, headers);
        if (!reply.complete) {
          seen.cut++; // a cut body is a failed read the client notices; allowed
          continue;
        }
        expect(reply.status).toBe(from > 0 ? 206 : 200);
        if (whichValue(reply.body, from) < 0) seen.wrong.push(`${reply.body.byteLength} bytes from offset ${from}`);
        else seen.whole++;
      }
    };
    await Promise.all([writer(), reader(0), reader(0), reader(0), reader(0), reader(12_345), reader(12_345)]);
    expect(seen.wrong).toEqual([]);
    expect(writes).toBeGreaterThan(2);
    expect(seen.whole).toBeGreaterThan(5);
  }, 30_000);
});
