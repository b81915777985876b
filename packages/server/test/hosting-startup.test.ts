import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { HostingStartError, openHostingServer } from "../src/hosting/hosting-server.js";
import { Logger } from "../src/logger.js";
import { listenHosting, writeHtpasswd } from "./hosting-helpers.js";

// What a hosting server checks before it listens, and the line it logs once it does (scripts and
// operators read the URL from it).

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function hostingConfig(listen: string, backend: (dir: string) => string, top = ""): string {
  const dir = mkdtempSync(join(tmpdir(), "hosting-listen-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeHtpasswd(join(dir, "htpasswd"), { alice: "apw" });
  const config = join(dir, "hosting.toml");
  writeFileSync(config, `htpasswd = "htpasswd"\n${top}\n[listen]\n${listen}\n\n[repositories]\nbackend = "${backend(dir)}"\n`);
  return config;
}

describe("hosting startup", () => {
  it("refuses a backend template of a kind it has no backend for, before it listens", async () => {
    const config = hostingConfig("port = 0", () => "nosuch://host/{user}/{repo}");
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    const failure = await openHostingServer(config, new Logger("error", quiet)).then(
      async (hosting) => {
        await hosting.shutdown(100);
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(HostingStartError);
    expect((failure as Error).message).toMatch(/^repositories\.backend: /);
  });

  it("makes the state folder before it listens", async () => {
    const config = hostingConfig("port = 0", (dir) => `file://${dir}/repos/{user}/{repo}`, 'state_dir = "state/deep"');
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    const hosting = await openHostingServer(config, new Logger("error", quiet));
    cleanups.push(() => hosting.shutdown(100));
    expect(existsSync(join(dirname(config), "state", "deep"))).toBe(true);
  });

  it("names the metrics address it could not listen on", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const config = hostingConfig("port = 0", (dir) => `file://${dir}/repos/{user}/{repo}`, `[metrics]\nport = ${port}\n`);
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    const hosting = await openHostingServer(config, new Logger("error", quiet));
    cleanups.push(() => hosting.shutdown(100));
    const failure = await hosting.listen().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(HostingStartError);
    expect((failure as Error).message).toMatch(new RegExp(`^metrics: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  });

  it("shows an IPv6 address in brackets in the URL it serves", async () => {
    const config = hostingConfig('host = "::1"\nport = 0', (dir) => `file://${dir}/repos/{user}/{repo}`);
    let log = "";
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        log += chunk.toString();
        done();
      },
    });
    const logger = new Logger("info", out);
    const { hosting, port } = await listenHosting(config, {}, logger);
    cleanups.push(() => hosting.shutdown(1000));
    logger.flush();
    expect(log).toContain(`on http://[::1]:${port}/<user>/<repo>/`);
  });
});
