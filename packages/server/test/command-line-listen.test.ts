import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { StartupError, createProgram, listenOnTcp, prepareServer } from "../src/command-line.js";
import { Logger } from "../src/logger.js";

// The CLI's listen step in this process: a port it cannot have is a StartupError naming the address
// (the CLI prints it and exits 2), not the bare error of listen().

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("the CLI's listen step", () => {
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
