import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACCEPT, CLI, RawConnection, header, rawRequest, request, startInProcess, tempDir } from "./helpers.js";

// Clients (ours) keep one request in flight, and hash every upload first, unless the server says
// it handles both; the Python reference sends no such header.
const FEATURES = "concurrent-requests, verified-uploads";

describe("X-BorgStore-Features: what this server handles that the Python reference does not", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it("is on every TCP response: success, error page, and 401", async () => {
    const server = await startInProcess(["--backend", `FILE:${dir.path}/tcp`, "--create"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    try {
      const ok = await request(server.port, "HEAD", "/");
      expect(ok.status).toBe(200);
      expect(header(ok, "X-BorgStore-Features")).toBe(FEATURES);
      const missing = await request(server.port, "GET", "/missing");
      expect(missing.status).toBe(404);
      expect(header(missing, "X-BorgStore-Features")).toBe(FEATURES);
      const unauthorized = await request(server.port, "HEAD", "/", { auth: false });
      expect(unauthorized.status).toBe(401);
      expect(header(unauthorized, "X-BorgStore-Features")).toBe(FEATURES);
    } finally {
      await server.stop();
    }
  });

  it("is on stdio responses too", async () => {
    const child = spawn(process.execPath, [CLI, "--stdio", "--backend", `FILE:${join(dir.path, "stdio")}`, "--create"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const conn = RawConnection.fromStreams(child.stdout, child.stdin);
    conn.send(rawRequest("HEAD", "/", [["Accept", ACCEPT]]));
    const res = await conn.response({ head: true });
    expect(res.status).toBe(200);
    expect(header(res, "X-BorgStore-Features")).toBe(FEATURES);
    child.stdin.end();
    await exited;
  });
});
