import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceSuite } from "@borgstore/testkit";
import { afterAll } from "vitest";
import { RestBackend } from "../src/index.js";
import { putServerOnPath } from "./helpers/server.js";
import { TRANSPORT_INDEPENDENT } from "./helpers/stdio-skips.js";

// rest:///abs/path: the client spawns `borgstore-server-rest --stdio` from PATH, as the reference does.
putServerOnPath();
const root = mkdtempSync(join(tmpdir(), "borgstore-rest-stdio-"));
const store = join(root, "store");

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

runConformanceSuite({
  name: "rest over stdio to our server",
  factory: () => new RestBackend({ url: `rest:///${store}`, retryDelay: 50 }),
  maxValueSize: 10_000_000,
  // Every test spawns two or three server children (create, open, destroy: ~0.5 s each), so the
  // whole kit would take minutes. These topics exercise the same client and server code as over
  // TCP (conformance-tcp.test.ts) and nothing specific to stdio; BORGSTORE_TEST_REST_STDIO_FULL=1 runs them too.
  skip: process.env.BORGSTORE_TEST_REST_STDIO_FULL === "1" ? {} : TRANSPORT_INDEPENDENT,
  cleanup: async () => {
    await rm(store, { recursive: true, force: true });
  },
});
