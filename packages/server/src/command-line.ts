import { createWriteStream, openSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { ErrorCodes, type Permissions, isBorgStoreError, parsePermissions, parseSize, redactUrl } from "@borgstore/core";
import { Command, InvalidArgumentError, Option } from "commander";
import { hostExposure, openServingProblem, resolveCredentials } from "./auth-policy.js";
import type { Credentials } from "./auth.js";
import { backendFromServerUrl } from "./backend-url.js";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel, Logger } from "./logger.js";
import { ServerMetrics } from "./observability/metrics.js";
import { RestServer } from "./server.js";
import { TlsConfigurationError, type TlsFiles, readTlsCredentials } from "./tls.js";

/** What `borgstore-server-rest`'s flags and env vars parse to. */
export interface CliOptions {
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
  logFormat: LogFormat;
  auditLog?: string;
  metricsListen?: { host: string; port: number };
  metricsAllowRemote?: boolean;
  tlsCert?: string;
  tlsKey?: string;
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

/** A reason not to start (the CLI prints it and exits with status 2). */
export class StartupError extends Error {
  override name = "StartupError";
}

/** A commander argument parser for a whole number of at least `min` (ports, seconds, counts). */
export function integer(min: number) {
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

/** `HOST:PORT` or `[IPv6]:PORT`. */
function hostAndPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new InvalidArgumentError(`expected HOST:PORT (e.g. 127.0.0.1:9618 or [::1]:9618), got: ${text}`);
  return { host: (m[1] ?? m[2]) as string, port };
}

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

/** The command's flags (a fresh, unparsed Command each call: parsing keeps state in it). */
export function createProgram(): Command {
  return new Command("borgstore-server-rest")
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
    .addOption(
      new Option("--log-format <format>", "text: the reference's lines; json: one JSON object a line (access, audit and messages)")
        .choices(LOG_FORMATS)
        .default("text"),
    )
    .addOption(new Option("--audit-log <file>", "append audit lines (deletes, permission and quota denials) to this file as JSON, not to stderr"))
    .addOption(
      new Option("--metrics-listen <host:port>", "serve Prometheus /metrics and /healthz on this address (loopback unless --metrics-allow-remote)").argParser(
        hostAndPort,
      ),
    )
    .addOption(new Option("--metrics-allow-remote", "let --metrics-listen use an address other than loopback (it has no auth: on purpose)"))
    .addOption(new Option("--tls-cert <file>", "serve HTTPS with this PEM certificate (chain); needs --tls-key; reloaded on SIGHUP"))
    .addOption(new Option("--tls-key <file>", "the PEM private key of --tls-cert"))
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
    )
    .addHelpText("after", "\nHosting mode (many users and repositories): borgstore-server-rest --config FILE (docs/hosting-mode.md)");
}

/** A parsed command line's server, not yet listening. */
export interface PreparedServer {
  server: RestServer;
  options: CliOptions;
  logger: Logger;
  /** Undefined: serving open. */
  credentials: Credentials | undefined;
}

/**
 * Everything between parsing and listening: the password (file), the auth policy, permissions,
 * the backend, --create, and the server with the options' limits. Throws StartupError for what
 * the operator must fix. `logger` should be at --log-level (the CLI's writes to stderr).
 */
export async function prepareServer(program: Command, logger: Logger): Promise<PreparedServer> {
  const options = program.opts<CliOptions>();

  if (program.getOptionValueSource("password") === "cli")
    logger.warning("warning: --password is visible to every user in the process list; prefer BORGSTORE_SERVER_PASSWORD or --password-file");
  let password = options.password;
  if (options.passwordFile !== undefined) {
    try {
      password = readFileSync(options.passwordFile, "utf8").split(/\r?\n/)[0];
    } catch (err) {
      throw new StartupError(`cannot read the password file: ${(err as Error).message}`);
    }
  }

  const credentials = resolveCredentials({ username: options.username, password, noAuth: options.auth === false });
  if (credentials instanceof Error) throw new StartupError(credentials.message);
  if (!credentials && !options.stdio && !options.socketActivation) {
    const problem = openServingProblem(await hostExposure(options.host), options.host, options.auth === false);
    if (problem) throw new StartupError(problem);
  }

  const tls = tlsFiles(options);
  if (options.metricsListen && options.stdio)
    throw new StartupError("--metrics-listen does not apply to --stdio (a session per client has no scrape target)");
  if (options.metricsListen && !options.metricsAllowRemote && (await hostExposure(options.metricsListen.host)) !== "loopback")
    throw new StartupError(
      `refusing to serve metrics on ${options.metricsListen.host} (not loopback) without authentication: use a loopback address (and a proxy with auth in front), or --metrics-allow-remote on purpose`,
    );

  let permissions: Permissions | undefined;
  try {
    permissions = options.permissions === undefined ? undefined : parsePermissions(options.permissions);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }

  let backend: Awaited<ReturnType<typeof backendFromServerUrl>>;
  try {
    backend = await backendFromServerUrl(options.backend, { permissions, quota: options.quota });
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  if (options.create) {
    try {
      // The operator's own action: client permissions (which may forbid create) do not apply.
      await (await backendFromServerUrl(options.backend, { quota: options.quota })).create();
      logger.info(`created the store at ${redactUrl(options.backend)}`);
    } catch (err) {
      if (!isBorgStoreError(err, ErrorCodes.BACKEND_ALREADY_EXISTS)) throw new StartupError(`cannot create the store: ${(err as Error).message}`);
    }
  }

  let server: RestServer;
  try {
    server = new RestServer(backend, {
      logger,
      tls,
      metrics: options.metricsListen ? new ServerMetrics() : undefined,
      auditLogger: options.auditLog === undefined ? undefined : auditLogTo(options.auditLog),
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
  } catch (err) {
    if (err instanceof TlsConfigurationError) throw new StartupError(err.message);
    throw err;
  }
  return { server, options, logger, credentials };
}

/** --tls-cert and --tls-key: both or neither. */
function tlsFiles(options: CliOptions): TlsFiles | undefined {
  const { tlsCert, tlsKey } = options;
  if (tlsCert === undefined && tlsKey === undefined) return undefined;
  if (tlsCert === undefined || tlsKey === undefined)
    throw new StartupError(`TLS is half-configured: ${tlsCert === undefined ? "--tls-key is given without --tls-cert" : "--tls-cert is given without --tls-key"} (give both, or neither)`);
  if (options.stdio) throw new StartupError("--tls-cert/--tls-key do not apply to --stdio (the session is the client's own pipe)");
  const files = { certFile: tlsCert, keyFile: tlsKey };
  try {
    // Checked before --create touches anything.
    readTlsCredentials(files);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  return files;
}

/** A JSON logger appending to the audit log `path`, opened now (StartupError if it cannot be). */
export function auditLogTo(path: string): Logger {
  let fd: number;
  try {
    // Opened now: a path that cannot be written refuses to start instead of losing the audit lines.
    fd = openSync(path, "a", 0o600);
  } catch (err) {
    throw new StartupError(`cannot open the audit log ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const out = createWriteStream(path, { fd });
  out.on("error", (err) => process.stderr.write(`borgstore-server-rest: audit log ${path}: ${err.message}\n`));
  return new Logger("info", out, "json");
}

/** Starts --metrics-listen's listener, if asked for, and logs where. */
export async function listenForMetrics({ server, options, logger }: PreparedServer): Promise<AddressInfo | undefined> {
  if (!options.metricsListen) return undefined;
  const { host, port } = options.metricsListen;
  let address: AddressInfo;
  try {
    address = await server.listenMetrics(port, host);
  } catch (err) {
    throw new StartupError(`cannot listen for metrics on ${host}:${port}: ${(err as Error).message}`);
  }
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  logger.info(`metrics on http://${shown}:${address.port}/metrics (health: /healthz)`);
  return address;
}

/** Listens on --host/--port and logs where (the line scripts wait for). */
export async function listenOnTcp(prepared: PreparedServer): Promise<AddressInfo> {
  const { server, options, logger } = prepared;
  let address: AddressInfo;
  try {
    address = await server.listenTcp(options.port, options.host);
  } catch (err) {
    throw new StartupError(`cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`);
  }
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  await listenForMetrics(prepared);
  const scheme = options.tlsCert === undefined ? "http" : "https";
  logger.info(`serving ${redactUrl(options.backend)} on ${scheme}://${host}:${address.port}/`);
  return address;
}
