import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { StartupError, createProgram, listenOnTcp, prepareServer } from "../src/command-line.js";
import { Logger } from "../src/logger.js";

// The CLI's startup in this process: its help, the warning about a password on the command line,
// and the listen step (a port it cannot have is a StartupError naming the address, which the CLI
// prints before it exits 2, not the bare error of listen()).

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function logSink(): { out: Writable; log: () => string } {
  let log = "";
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log += chunk.toString();
      done();
    },
  });
  return { out, log: () => log };
}

describe("the CLI's startup", () => {
  it("describes its options in --help", () => {
    // Wrapped at the terminal's width: compared with single spaces.
    const help = createProgram().helpInformation().replace(/\s+/g, " ");
    expect(help).toContain("--port <port> TCP port (0 picks a free one) (default: 5618)");
    expect(help).toContain("--max-connections <n> refuse connections beyond this many open ones (default: 256)");
  });

  it("warns about a password given on the command line, not about one from the environment", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-password-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    for (const [args, warned] of [
      [["--username", "u", "--password", "secret"], true],
      [[], false],
    ] as const) {
      const program = createProgram()
        .exitOverride()
        .configureOutput({ writeErr: () => {}, writeOut: () => {} });
      program.parse(["--backend", `FILE:${dir}/store`, "--create", ...args], { from: "user" });
      const { out, log } = logSink();
      const logger = new Logger("warning", out);
      const prepared = await prepareServer(program, logger);
      cleanups.push(() => prepared.server.shutdown(1000));
      logger.flush();
      expect(log().includes("--password is visible to every user in the process list")).toBe(warned);
    }
  });

  it("names the address it could not listen on in a StartupError", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-listen-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const program = createProgram()
      .exitOverride()
      .configureOutput({ writeErr: () => {}, writeOut: () => {} });
    program.parse(["--backend", `FILE:${dir}/store`, "--create", "--host", "127.0.0.1", "--port", String(port)], { from: "user" });
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    const prepared = await prepareServer(program, new Logger("error", quiet));
    cleanups.push(() => prepared.server.shutdown(1000));
    const failure = await listenOnTcp(prepared).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toMatch(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  });
});
