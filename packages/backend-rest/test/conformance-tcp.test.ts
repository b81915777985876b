import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "@borgstore/core";
import { runConformanceSuite } from "@borgstore/testkit";
import { afterAll, beforeAll } from "vitest";
import { RestBackend } from "../src/index.js";
import { type RunningServer, startServer } from "./helpers/server.js";

// Our server (child process) on a free port over a posixfs temp store; create/destroy per test.
const root = mkdtempSync(join(tmpdir(), "borgstore-rest-tcp-"));
const store = join(root, "store");
let server: RunningServer;
const quotaServers = new Map<Backend, RunningServer>();
let n = 0;

beforeAll(async () => {
  server = await startServer(["--backend", `FILE:${store}`, "--username", "u", "--password", "p w"]);
});

afterAll(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

runConformanceSuite({
  name: "rest over TCP to our server",
  factory: () => new RestBackend({ url: `${server.url.replace("//", "//u:p%20w@")}/`, retryDelay: 50, env: {} }),
  quotaFactory: async (limit) => {
    const dir = join(root, `quota-${n++}`);
    const quotaServer = await startServer(["--backend", `FILE:${dir}`, "--quota", String(limit)]);
    const backend = new RestBackend({ url: quotaServer.url, retryDelay: 50, env: {} });
    quotaServers.set(backend, quotaServer);
    return backend;
  },
  cleanup: async (backend) => {
    const quotaServer = quotaServers.get(backend);
    quotaServers.delete(backend);
    await quotaServer?.stop();
    await rm(store, { recursive: true, force: true });
  },
});
