import { mkdtempSync, readdirSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectCode } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { CuttingProxy } from "./helpers/cutting-proxy.js";
import { type RunningServer, startServer } from "./helpers/server.js";

const root = mkdtempSync(join(tmpdir(), "borgstore-rest-abort-"));
// The spool goes to os.tmpdir(): a directory of this file's own, so leftovers are seen (vitest runs each file in its own process).
const spoolDir = join(root, "tmp");
let server: RunningServer;
let proxy: CuttingProxy;

beforeAll(async () => {
  await mkdir(spoolDir);
  process.env.TMPDIR = spoolDir;
  server = await startServer(["--backend", `FILE:${join(root, "store")}`, "--create"]);
  proxy = await CuttingProxy.start(Number(new URL(server.url).port));
});
afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

async function* chunks(total: number): AsyncGenerator<Uint8Array> {
  for (let sent = 0; sent < total; sent += 65_536) yield new Uint8Array(Math.min(65_536, total - sent)).fill(7);
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("an abort while an upload is stalled on the network", () => {
  for (const [what, size] of [
    ["with a known size (streamed through)", 24_000_000],
    ["of unknown length (spooled, then sent)", undefined],
  ] as const) {
    it(`cuts the request off ${what}: ABORTED, nothing stored, no spool file left`, async () => {
      proxy.stallUploads(1_000_000);
      const stallsBefore = proxy.stalls;
      const backend = new RestBackend({ url: `http://127.0.0.1:${proxy.port}/`, concurrency: 1, retryDelay: 20, env: {} });
      await backend.open();
      try {
        const controller = new AbortController();
        const storing = backend.storeStream("data/stalled", chunks(24_000_000), { size, signal: controller.signal });
        storing.catch(() => {});
        await waitFor("the upload to stall", () => proxy.stalls > stallsBefore);
        // Let the socket buffers fill up, so the client waits for the network, not for its source.
        await new Promise((resolve) => setTimeout(resolve, 500));
        controller.abort();
        await expectCode(storing, "ABORTED");
      } finally {
        proxy.stallUploads(undefined);
        await backend.close();
      }
      const direct = new RestBackend({ url: `${server.url}/`, env: {} });
      await direct.open();
      try {
        expect((await direct.info("data/stalled")).exists).toBe(false);
      } finally {
        await direct.close();
      }
      expect(readdirSync(spoolDir)).toEqual([]);
    });
  }
});
