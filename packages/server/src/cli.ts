#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { ErrorCodes, type Permissions, isBorgStoreError, parsePermissions, parseSize, redactUrl } from "@borgstore/core";
import { Command, InvalidArgumentError, Option } from "commander";
import { type Exposure, hostExposure, isLoopbackAddress, openServingProblem, resolveCredentials } from "./auth-policy.js";
import { backendFromServerUrl } from "./backend-url.js";
import { tuneHeapForLargeBodies } from "./heap-tuning.js";
import { LOG_LEVELS, type LogLevel, Logger } from "./logger.js";
import { RestServer } from "./server.js";

interface CliOptions {
  host: string;
  port: number;
  backend: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  auth: boolean;
  permissions?: string;
  quota?: number;
  stdio?: boolean;
  socketActivation?: boolean;
  create?: boolean;
  logLevel: LogLevel;
  maxObjectSize?: number;
  idleTimeout: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  minRate: number;
  rateWindow: number;
  memoryBudget: number;
  shutdownTimeout: number;
  waitLimit: number;
}

function integer(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min)
      throw new InvalidArgumentError(`expected an integer ≥ ${min}, got: ${text}`);
    return value;
  };
}

/** A byte count: plain bytes as the reference takes them, or with a unit (`10G`, `64k`; powers of 1024). */
function size(text: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command("borgstore-server-rest")
  .version(version)
  .description("Serve a borgstore backend over HTTP (the REST protocol of the Python borgstore server)")
  .addOption(new Option("--host <address>", "address to listen on").default("127.0.0.1"))
  .addOption(new Option("--port <port>", "TCP port (0 picks a free one)").default(5618).argParser(integer(0)))
  .addOption(
    new Option("--backend <url>", "backend URL, e.g. file:///srv/store or FILE:relative/or/~/path")
      .env("BORGSTORE_SERVER_BACKEND")
      .makeOptionMandatory(),
  )
  .addOption(new Option("--username <name>", "Basic auth user name").env("BORGSTORE_SERVER_USERNAME"))
  .addOption(
    new Option("--password <secret>", "Basic auth password (visible in ps: prefer the env var or --password-file)").env(
      "BORGSTORE_SERVER_PASSWORD",
    ),
  )
  .addOption(
    new Option("--password-file <path>", "read the Basic auth password from this file (first line)").env(
      "BORGSTORE_SERVER_PASSWORD_FILE",
    ),
  )
  .addOption(new Option("--no-auth", "serve without credentials on an address other than loopback (on purpose)"))
  .addOption(
    new Option(
      "--permissions <spec>",
      "borgbackup-all | borgbackup-no-delete | borgbackup-write-only | borgbackup-read-only, or a JSON object",
    ),
  )
  .addOption(new Option("--quota <bytes>", "storage quota in bytes, or with a unit: 500G, 2T (posixfs)").argParser(size))
  .addOption(new Option("--stdio", "serve one HTTP session on stdin/stdout (logs on stderr)"))
  .addOption(new Option("--socket-activation", "serve the listening socket passed by systemd (LISTEN_FDS=1, fd 3)"))
  .addOption(new Option("--create", "create the store at startup if it does not exist yet"))
  .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
  .addOption(new Option("--max-object-size <bytes>", "refuse larger uploads with 413 (bytes, or 64M, 1G)").argParser(size))
  .addOption(
    new Option("--idle-timeout <seconds>", "close connections idle for this long (slow clients)")
      .default(120)
      .argParser(integer(1)),
  )
  .addOption(
    new Option("--memory-budget <bytes>", "memory for values held whole across requests; beyond it values stream")
      .default(64 * 1024 * 1024)
      .argParser(size),
  )
  .addOption(
    new Option("--max-connections <n>", "refuse connections beyond this many open ones")
      .default(256)
      .argParser(integer(1)),
  )
  .addOption(
    new Option("--max-connections-per-address <n>", "refuse connections beyond this many open ones from one client address (0 = no limit)")
      .default(32)
      .argParser(integer(0)),
  )
  .addOption(
    new Option("--min-rate <bytes>", "cut a client that sends its body or reads our answer slower than this many bytes/s (0 = off)")
      .default(1024)
      .argParser(size),
  )
  .addOption(
    new Option("--rate-window <seconds>", "measure --min-rate over windows this long (cut after two slow ones in a row)")
      .default(20)
      .argParser(integer(1)),
  )
  .addOption(
    new Option("--wait-limit <ms>", "longest a request waits for create/destroy, and they for running requests; then 503")
      .default(2000)
      .argParser(integer(1)),
  )
  .addOption(
    new Option("--shutdown-timeout <seconds>", "on SIGTERM, wait this long for running requests")
      .default(30)
      .argParser(integer(0)),
  );

async function main(): Promise<void> {
  tuneHeapForLargeBodies();
  program.parse();
  const options = program.opts<CliOptions>();
  const logger = new Logger(options.logLevel);
  const fail = (message: string): never => {
    logger.error(`borgstore-server-rest: ${message}`);
    logger.flush();
    process.exit(2);
  };

  if (program.getOptionValueSource("password") === "cli")
    logger.warning("warning: --password is visible to every user in the process list; prefer BORGSTORE_SERVER_PASSWORD or --password-file");
  let password = options.password;
  if (options.passwordFile !== undefined) {
    try {
      password = readFileSync(options.passwordFile, "utf8").split(/\r?\n/)[0];
    } catch (err) {
      fail(`cannot read the password file: ${(err as Error).message}`);
    }
  }

  const credentials = resolveCredentials({ username: options.username, password, noAuth: options.auth === false });
  if (credentials instanceof Error) return fail(credentials.message);
  const noAuth = options.auth === false;
  if (!credentials && !options.stdio && !options.socketActivation) {
    const problem = openServingProblem(await hostExposure(options.host), options.host, noAuth);
    if (problem) fail(problem);
  }

  let permissions: Permissions | undefined;
  try {
    permissions = options.permissions === undefined ? undefined : parsePermissions(options.permissions);
  } catch (err) {
    fail((err as Error).message);
  }

  let backend: Awaited<ReturnType<typeof backendFromServerUrl>>;
  try {
    backend = await backendFromServerUrl(options.backend, { permissions, quota: options.quota });
  } catch (err) {
    return fail((err as Error).message);
  }
  if (options.create) {
    try {
      // The operator's own action: client permissions (which may forbid create) do not apply.
      await (await backendFromServerUrl(options.backend, { quota: options.quota })).create();
      logger.info(`created the store at ${redactUrl(options.backend)}`);
    } catch (err) {
      if (!isBorgStoreError(err, ErrorCodes.BACKEND_ALREADY_EXISTS)) fail(`cannot create the store: ${(err as Error).message}`);
    }
  }

  const server = new RestServer(backend, {
    logger,
    credentials,
    maxObjectSize: options.maxObjectSize,
    idleTimeoutMs: options.idleTimeout * 1000,
    maxConnections: options.maxConnections,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress,
    minRate: options.minRate,
    rateWindowMs: options.rateWindow * 1000,
    wholeBodyBudget: options.memoryBudget,
    waitLimitMs: options.waitLimit,
    stdio: options.stdio,
  });

  const stop = (signal: string) => {
    logger.info(`${signal}: finishing running requests, then exiting`);
    server.shutdown(options.shutdownTimeout * 1000).then(
      () => process.exit(0),
      (err) => {
        logger.error(`shutdown failed: ${(err as Error).message}`);
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  // A stdio server belongs to its client, which ends it by closing stdin: Ctrl-C in the client's
  // terminal (sent to the whole process group) must not cut it off mid-request. The Python
  // client spawns it with SIGINT ignored, but Node resets that disposition at startup.
  if (options.stdio) process.on("SIGINT", () => logger.debug("SIGINT ignored in stdio mode"));
  else process.on("SIGINT", () => stop("SIGINT"));

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
      const problem = openServingProblem(exposure, where, noAuth);
      if (problem) {
        server.http.close();
        fail(problem);
      }
    }
    logger.info(`serving ${redactUrl(options.backend)} on the socket passed by systemd`);
    return;
  }
  try {
    const address = await server.listenTcp(options.port, options.host);
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    logger.info(`serving ${redactUrl(options.backend)} on http://${host}:${address.port}/`);
  } catch (err) {
    fail(`cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`);
  }
}

main().catch((err) => {
  process.stderr.write(`borgstore-server-rest: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
