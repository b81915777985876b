import { Command, Option } from "commander";
import { integer } from "../command-line.js";
import { exitAfterShutdown } from "../exit-after-shutdown.js";
import { LOG_LEVELS, type LogLevel, Logger } from "../logger.js";
import { runKeptCommand } from "./delete-grace-command.js";
import { HostingStartError, openHostingServer } from "./hosting-server.js";

/** Whether the command line asks for the hosting mode (`--config FILE`). */
export function isHostingCommand(argv: readonly string[]): boolean {
  return argv.some((arg) => arg === "--config" || arg.startsWith("--config="));
}

interface HostingCliOptions {
  config: string;
  logLevel: LogLevel;
  shutdownTimeout: number;
  kept?: string;
  restore?: string;
  since?: string;
}

/** `borgstore-server-rest --config FILE`: many users and repositories, as the file says. */
export async function runHostingCommand(argv: readonly string[]): Promise<void> {
  const program = new Command("borgstore-server-rest")
    .description("Serve many users' repositories as the hosting configuration file says (docs/hosting-mode.md)")
    .requiredOption("--config <file>", "the hosting configuration file (TOML)")
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .addOption(
      new Option("--shutdown-timeout <seconds>", "on SIGTERM, wait this long for running requests").default(30).argParser(integer(0)),
    )
    .option("--kept <user/repo>", "list the repository's items kept by the delete grace, then exit")
    .option("--restore <user/repo>", "put back the values the repository held at --since from its kept items (server stopped), then exit")
    .option("--since <time>", "with --restore: an ISO 8601 time (e.g. 2026-12-06T10:00:00Z)");
  program.parse(argv);
  const options = program.opts<HostingCliOptions>();
  const logger = new Logger(options.logLevel);
  if (options.kept !== undefined || options.restore !== undefined) return runKeptCommand(options, logger);
  let hosting: Awaited<ReturnType<typeof openHostingServer>>;
  try {
    // In the format the configuration's [log] table asks for; this one only tells why it did not start.
    hosting = await openHostingServer(options.config, (config) => new Logger(options.logLevel, process.stderr, config.log.format));
    await hosting.listen();
  } catch (err) {
    if (!(err instanceof HostingStartError)) throw err;
    logger.error(`borgstore-server-rest: ${err.message}`);
    logger.flush();
    process.exit(2);
  }
  const log = hosting.server.logger;
  process.on("SIGHUP", () => {
    log.info("SIGHUP: reading the configuration and the htpasswd file again");
    void hosting.reload();
  });
  const stop = exitAfterShutdown((graceMs) => hosting.shutdown(graceMs), options.shutdownTimeout * 1000, log);
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
