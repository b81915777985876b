#!/usr/bin/env node
import { redactUrl } from "@borgstore/core";
import { type Exposure, isLoopbackAddress, openServingProblem } from "./auth-policy.js";
import { type CliOptions, StartupError, createProgram, listenForMetrics, listenOnTcp, prepareServer } from "./command-line.js";
import { exitAfterShutdown } from "./exit-after-shutdown.js";
import { tuneHeapForLargeBodies } from "./heap-tuning.js";
import { isHostingCommand, runHostingCommand } from "./hosting/command.js";
import { Logger } from "./logger.js";

async function main(): Promise<void> {
  tuneHeapForLargeBodies();
  if (isHostingCommand(process.argv)) return runHostingCommand(process.argv);
  const program = createProgram();
  program.parse();
  const logger = new Logger(program.opts<CliOptions>().logLevel, process.stderr, program.opts<CliOptions>().logFormat);
  const fail = (message: string): never => {
    logger.error(`borgstore-server-rest: ${message}`);
    logger.flush();
    process.exit(2);
  };
  const startup = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (err) {
      if (err instanceof StartupError) return fail(err.message);
      throw err;
    }
  };

  const prepared = await startup(() => prepareServer(program, logger));
  const { server, options, credentials } = prepared;

  const stop = exitAfterShutdown((graceMs) => server.shutdown(graceMs), options.shutdownTimeout * 1000, logger);
  process.on("SIGTERM", () => stop("SIGTERM"));
  // A stdio server belongs to its client, which ends it by closing stdin: Ctrl-C in the client's
  // terminal (sent to the whole process group) must not cut it off mid-request. The Python
  // client spawns it with SIGINT ignored, but Node resets that disposition at startup.
  if (options.stdio) process.on("SIGINT", () => logger.debug("SIGINT ignored in stdio mode"));
  else process.on("SIGINT", () => stop("SIGINT"));
  if (options.tlsCert !== undefined)
    process.on("SIGHUP", () => {
      try {
        server.reloadTls();
        logger.info("SIGHUP: reloaded the TLS certificate and key (open connections keep theirs)");
      } catch (err) {
        logger.error(`SIGHUP: kept the TLS certificate in use: ${(err as Error).message}`);
      }
    });

  if (options.stdio) {
    // stdout carries the protocol: anything a library prints goes to stderr.
    console.log = console.info = console.warn = console.error;
    await server.serveStreams(process.stdin, process.stdout);
    await server.shutdown(options.shutdownTimeout * 1000);
    process.exit(0);
  }
  if (options.socketActivation) {
    const fds = process.env.LISTEN_FDS;
    if (!fds || fds === "0") fail("socket activation: no sockets were passed (LISTEN_FDS is not set)");
    if (fds !== "1") fail(`socket activation: expected exactly one socket, but LISTEN_FDS=${fds}`);
    await server.listenFd(3);
    if (!credentials) {
      // Checked before the first accept (that waits for the next event-loop turn).
      const address = server.http.address();
      const exposure: Exposure =
        address === null || typeof address === "string" ? "unix" : isLoopbackAddress(address.address) ? "loopback" : "network";
      const where = typeof address === "object" && address ? `${address.address}:${address.port}` : "the passed socket";
      const problem = openServingProblem(exposure, where, options.auth === false);
      if (problem) {
        server.http.close();
        fail(problem);
      }
    }
    await startup(() => listenForMetrics(prepared));
    logger.info(`serving ${redactUrl(options.backend)} on the socket passed by systemd`);
    return;
  }
  await startup(() => listenOnTcp(prepared));
}

main().catch((err) => {
  process.stderr.write(`borgstore-server-rest: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
