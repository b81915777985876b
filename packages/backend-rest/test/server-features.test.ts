import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { type RunningServer, startServer } from "./helpers/server.js";

// The Python side of this (one request at a time, hashed uploads) is in reference-tcp.test.ts.
describe("requests in flight follow what the server says it handles", () => {
  const root = mkdtempSync(join(tmpdir(), "borgstore-rest-features-"));
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${join(root, "store")}`, "--create"]);
  });
  afterAll(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("one before open; the configured number once our server said concurrent-requests", async () => {
    for (const [url, expected] of [
      [`${server.url}/`, 16],
      [`${server.url}/?concurrency=4`, 4],
    ] as const) {
      const backend = new RestBackend({ url, env: {} });
      expect(backend.requestsInFlight).toBe(1);
      await backend.open();
      expect(backend.requestsInFlight).toBe(expected);
      await backend.close();
      expect(backend.requestsInFlight).toBe(1);
    }
  });
});
