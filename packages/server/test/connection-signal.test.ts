import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, CREDENTIALS, RawConnection, type RunningServer, rawRequest, startInProcess, tempDir } from "./helpers.js";

// The requests of one connection share one AbortSignal (server/src/request-signal.ts): whatever a
// request hangs on it must come off again, or a long keep-alive session would pile up listeners.
describe("the per-connection request signal", () => {
  const dir = tempDir();
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  it("keeps no listener behind across many requests of every kind on one keep-alive connection", async () => {
    server = await startInProcess(["--backend", `FILE:${join(dir.path, "s")}`, "--create", "--max-object-size", "1000000"], CREDENTIALS);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    const conn = await RawConnection.open(server.port);
    try {
      const ask = async (method: string, target: string, body: Buffer | string = "", extra: [string, string][] = []) => {
        const headers: [string, string][] = [["Host", "x"], ["Accept", ACCEPT], ["Authorization", AUTH], ...extra];
        if (method === "POST" || method === "DELETE") headers.push(["Content-Length", String(Buffer.byteLength(body))]);
        conn.send(rawRequest(method, target, headers, body));
        return conn.response({ head: method === "HEAD" });
      };
      const big = Buffer.alloc(200_000, 3);
      for (let i = 0; i < 15; i++) {
        expect((await ask("POST", `/data/${i}`, Buffer.alloc(1024, i))).status).toBe(200);
        expect((await ask("POST", "/data/big", big)).status).toBe(200);
        expect((await ask("GET", `/data/${i}`)).status).toBe(200);
        expect((await ask("GET", "/data/big")).status).toBe(200);
        expect((await ask("GET", `/data/${i}`, "", [["Range", "bytes=1-10"]])).status).toBe(206);
        expect((await ask("HEAD", `/data/${i}`)).status).toBe(200);
        expect((await ask("GET", "/data/")).status).toBe(200);
        expect((await ask("POST", `/data/${i}?cmd=hash`)).status).toBe(200);
        expect((await ask("DELETE", `/data/${i}`)).status).toBe(200);
      }
      // An error page closes the connection: last.
      expect((await ask("GET", "/data/missing")).status).toBe(404);
    } finally {
      conn.close();
      process.off("warning", onWarning);
    }
    // Node warns once an EventTarget holds more than 10 listeners of one type.
    expect(warnings.filter((w) => /listener/i.test(w))).toEqual([]);
  }, 60_000);
});
