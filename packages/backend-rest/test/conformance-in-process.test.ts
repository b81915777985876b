import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Backend } from "@borgstore/core";
import { Logger, RestServer, backendFromServerUrl } from "@borgstore/server";
import { runConformanceSuite } from "@borgstore/testkit";
import { afterAll, beforeAll } from "vitest";
import { RestBackend } from "../src/index.js";

// Our server in this process (RestServer over posixfs), with the hosting file's smaller sizes: the
// kit's client paths in about 4 s, against 10 s for conformance-tcp.test.ts's server process. It is
// the conformance run of `pnpm test:mutation`'s quick first pass (docs/mutation-testing.md, session 13).
const root = mkdtempSync(join(tmpdir(), "borgstore-rest-in-process-"));
const store = join(root, "store");
const quiet = new Logger("error", new Writable({ write: (_chunk, _encoding, done) => done() }));

async function serve(dir: string, options: { quota?: number; credentials?: { username: string; password: string } } = {}) {
  const server = new RestServer(await backendFromServerUrl(`FILE:${dir}`, { quota: options.quota }), { logger: quiet, credentials: options.credentials });
  const { port } = await server.listenTcp(0, "127.0.0.1");
  return { server, url: `http://127.0.0.1:${port}` };
}

let main: Awaited<ReturnType<typeof serve>>;
const quotaServers = new Map<Backend, RestServer>();
let n = 0;

beforeAll(async () => {
  main = await serve(store, { credentials: { username: "u", password: "p w" } });
});
afterAll(async () => {
  await main?.server.shutdown(1000);
  await rm(root, { recursive: true, force: true });
});

runConformanceSuite({
  name: "rest over TCP to our server in-process",
  factory: () => new RestBackend({ url: `${main.url.replace("//", "//u:p%20w@")}/`, retryDelay: 50, env: {} }),
  maxValueSize: 1_000_000,
  streamValueSize: 1024 * 1024,
  raceMs: 300,
  quotaFactory: async (limit) => {
    const q = await serve(join(root, `quota-${n++}`), { quota: limit });
    const backend = new RestBackend({ url: q.url, retryDelay: 50, env: {} });
    quotaServers.set(backend, q.server);
    return backend;
  },
  cleanup: async (backend) => {
    const q = quotaServers.get(backend);
    quotaServers.delete(backend);
    await q?.shutdown(1000);
    await rm(store, { recursive: true, force: true });
  },
});
