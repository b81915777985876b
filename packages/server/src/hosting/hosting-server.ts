import { stat } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { redactUrl } from "@borgstore/core";
import type { Logger } from "../logger.js";
import { RestServer, type RestServerOptions } from "../server.js";
import { backendFromServerUrl } from "../backend-url.js";
import { type HostingConfig, loadHostingConfig } from "./config.js";
import { DeleteGraceService } from "./delete-grace.js";
import { FairShare } from "./fair-share.js";
import { HtpasswdFile } from "./htpasswd.js";
import { makeFolders } from "./make-folders.js";
import { hostingUsageSource, openHostingObservability } from "./observability.js";
import { Repositories } from "./repositories.js";
import { HostingRouter } from "./router.js";
import { DiscoveredRepositories } from "./discovered-repositories.js";
import { type UsageRecordStore, UsageRecords } from "./usage-records.js";
import { openBucketUsageRecords } from "./bucket-usage-records.js";

/** How long an idle repository stays open when replicas share the records (state_url). */
export const SHARED_STATE_IDLE_MS = 3000;

/** A reason the hosting mode does not start, for the operator (the CLI exits with status 2). */
export class HostingStartError extends Error {
  /** Always "HostingStartError". */
  override name = "HostingStartError";
}

/** A hosting-mode server, not yet listening. */
export interface HostingServer {
  /** The HTTP(S) server that answers every user's requests. */
  readonly server: RestServer;
  /** @internal The open repositories and kept figures (tests and monitoring read their counts). */
  readonly repositories: Repositories;
  /** @internal Each user's requests in flight and bandwidth (tests read the counts). */
  readonly fairShare: FairShare;
  /** The configuration in force. */
  config(): HostingConfig;
  /** Listens where the configuration says (port 0: a free one). */
  listen(): Promise<AddressInfo>;
  /**
   * Reads the configuration and the htpasswd file again (SIGHUP). A file that cannot be used keeps
   * the one in force (logged); requests in flight finish under what they started with. Where the
   * server listens and the backend template of repositories already open change only on restart;
   * a file with another state_url is not used (logged).
   */
  reload(): Promise<void>;
  /** Finishes running requests, closes every repository, stops watching the htpasswd file. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Reads and checks everything the configuration at `path` names before anything listens: the
 * file itself, the htpasswd file, the backend template's kind, the state folder.
 */
export async function openHostingServer(
  path: string,
  loggerFor: Logger | ((config: HostingConfig) => Logger),
  options: Omit<RestServerOptions, "credentials" | "logger"> & { idleMs?: number; maxIdle?: number; revalidateMs?: number; recordHeartbeat?: { heartbeatMs?: number; cleanAfterMs?: number } } = {},
): Promise<HostingServer> {
  let config = await startStep("", () => loadHostingConfig(path));
  // The configuration's [log] table says the format: a logger made from it (the command line's).
  const logger = typeof loggerFor === "function" ? loggerFor(config) : loggerFor;
  await startStep("repositories.backend: ", () => backendFromServerUrl(sampleUrl(config)));
  await startStep("state_dir: ", () => makeFolders(config.stateDir));
  const observability = await startStep("", () => openHostingObservability(config));
  const htpasswd = await startStep("htpasswd: ", () =>
    HtpasswdFile.open(config.htpasswd, {
      onReload: (result) =>
        result.ok
          ? logger.info(`htpasswd: read ${result.logins} logins`)
          : logger.error(`htpasswd: ${result.error}; the logins in use stay`),
    }),
  );
  await warnAboutExposure(config, logger);
  const metrics = options.metrics ?? observability.metrics;
  const grace = new DeleteGraceService(() => config);
  const stored = config.stateUrl
    ? await startStep("state_url: ", () => openBucketUsageRecords(config.stateUrl as string, options.recordHeartbeat))
    : new UsageRecords(config.stateDir);
  // Repositories whose records were deleted still count (the metrics read the records alone, at each scrape).
  const records: UsageRecordStore = new DiscoveredRepositories(stored, () => config.repositories.backend);
  const repositories = new Repositories(() => config, records, {
    waitLimitMs: options.waitLimitMs,
    // Shared records: an old owner's repositories close soon after its last request, so that the
    // new owner learns of stores that finished there after it measured (docs/scale-out.md).
    idleMs: options.idleMs ?? (config.stateUrl ? SHARED_STATE_IDLE_MS : undefined),
    maxIdle: options.maxIdle,
    grace,
    revalidateMs: options.revalidateMs,
  });
  grace.startPurging(repositories, logger);
  const fairShare = new FairShare();
  const router = new HostingRouter({ config: () => config, checker: htpasswd.checker, repositories, fairShare });
  const tls = config.tls ? { certFile: config.tls.cert, keyFile: config.tls.key } : undefined;
  const server = await startStep("tls: ", async () =>
    new RestServer(router, { auditLogger: observability.auditLogger, ...options, metrics, logger, tls }),
  );
  metrics?.setUsageSource(hostingUsageSource(repositories, stored, config.metrics?.maxLabelPairs ?? 10_000));
  const metricsAt = config.metrics;
  return {
    server,
    repositories,
    fairShare,
    config: () => config,
    async listen() {
      const address = await startStep(`cannot listen on ${config.listen.host}:${config.listen.port}: `, () =>
        server.listenTcp(config.listen.port, config.listen.host),
      );
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      if (metricsAt) {
        const at = await startStep(`metrics: cannot listen on ${metricsAt.host}:${metricsAt.port}: `, () =>
          server.listenMetrics(metricsAt.port, metricsAt.host),
        );
        logger.info(`metrics on http://${at.family === "IPv6" ? `[${at.address}]` : at.address}:${at.port}/metrics (health: /healthz)`);
      }
      // An s3: template carries its secret key: the log shows the URL without credentials.
      logger.info(`hosting ${redactUrl(config.repositories.backend)} on ${tls ? "https" : "http"}://${host}:${address.port}/<user>/<repo>/`);
      return address;
    },
    async reload() {
      try {
        const next = await loadHostingConfig(path);
        if (Boolean(next.tls) !== Boolean(tls)) throw new Error("tls: turning TLS on or off takes a restart");
        // The records were opened where it said at start: another place now would leave this replica
        // counting in one and the others (restarted) in another, each with its own figures.
        if (next.stateUrl !== config.stateUrl) throw new Error("state_url: changing it takes a restart");
        await backendFromServerUrl(sampleUrl(next));
        if (JSON.stringify([next.metrics, next.log]) !== JSON.stringify([config.metrics, config.log]))
          logger.warning("config: [metrics] and [log] change only on restart; the ones in force stay");
        config = next;
        logger.info(`config: read ${path}`);
      } catch (err) {
        logger.error(`config: ${(err as Error).message}; the configuration in force stays`);
      }
      await htpasswd.reload();
      if (tls) {
        // The certificate files named at start, read again (renewed certificates); a broken pair keeps the one in use.
        try {
          server.reloadTls();
          logger.info("tls: certificate and key read again");
        } catch (err) {
          logger.error(`tls: ${(err as Error).message}; the certificate in use stays`);
        }
      }
    },
    async shutdown(graceMs) {
      htpasswd.close();
      await grace.stop();
      await server.shutdown(graceMs);
      // After the repositories closed (their records written clean): no heartbeat of them goes on.
      await records.close?.();
      // After the requests: one still waiting for its password check gets its answer.
      htpasswd.checker.close();
    },
  };
}

/** Settings that work but expose passwords: logged at every start. */
async function warnAboutExposure(config: HostingConfig, logger: Logger): Promise<void> {
  if (((await stat(config.htpasswd)).mode & 0o002) !== 0)
    logger.warning(`htpasswd: ${config.htpasswd} is writable by every local user (anyone could add a login); chmod o-w it`);
  if (!config.tls && !isLoopback(config.listen.host))
    logger.warning(
      `listen.host ${config.listen.host} is not a loopback address and this server speaks plain HTTP: passwords and data cross the network in clear; add a [tls] table or put a TLS proxy (nginx) in front`,
    );
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The template with sample names: its kind of backend must be installed and its URL must parse. */
function sampleUrl(config: HostingConfig): string {
  return config.repositories.backend.replaceAll("{user}", "user").replaceAll("{repo}", "repo");
}

async function startStep<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw new HostingStartError(`${what}${(err as Error).message}`);
  }
}
