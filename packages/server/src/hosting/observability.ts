import { readdir } from "node:fs/promises";
import { hostExposure } from "../auth-policy.js";
import { auditLogTo } from "../command-line.js";
import type { Logger } from "../logger.js";
import { OVERFLOW_LABEL, ServerMetrics, type StoredUsage } from "../observability/metrics.js";
import type { HostingConfig } from "./config.js";
import type { Repositories } from "./repositories.js";
import type { UsageFigures } from "./usage.js";

/** The hosting mode's metrics and audit log, as the configuration's [metrics] and [log] tables ask. */
export interface HostingObservability {
  /** Counts every request; served on `[metrics]`'s address (undefined: no [metrics] table). */
  metrics?: ServerMetrics;
  /** Where audit lines go (undefined: the server's log). */
  auditLogger?: Logger;
}

/**
 * Checks `[metrics]` and opens `[log].audit`; throws with the key to fix. The listener has no
 * auth: an address other than loopback needs `allow_remote = true`, as --metrics-allow-remote.
 */
export async function openHostingObservability(config: HostingConfig): Promise<HostingObservability> {
  const { metrics, log } = config;
  if (metrics && !metrics.allowRemote && (await hostExposure(metrics.host)) !== "loopback")
    throw new Error(
      `metrics.host: refusing to serve metrics on ${metrics.host} (not loopback) without authentication: use a loopback address (and a proxy with auth in front), or set metrics.allow_remote = true on purpose`,
    );
  let auditLogger: Logger | undefined;
  try {
    auditLogger = log.audit === undefined ? undefined : auditLogTo(log.audit);
  } catch (err) {
    throw new Error(`log.audit: ${(err as Error).message}`);
  }
  return {
    ...(metrics ? { metrics: new ServerMetrics({ maxLabelPairs: metrics.maxLabelPairs }) } : {}),
    ...(auditLogger ? { auditLogger } : {}),
  };
}

/**
 * Stored bytes and objects (and the last write's time) per repository for the metrics, labelled with the owner and
 * "owner/repo" (as the router labels requests), read at each scrape without listing anything:
 * users loaded since start from memory (open repositories and idle ones closed since), every
 * other user from their usage records in a state folder, read once (only the server writes them,
 * and only for loaded users; records without a folder, as in a bucket, are not read). At most `maxPairs` repositories get series of their own; the rest are summed
 * under "_other".
 */
export function hostingUsageSource(repositories: Repositories, records: RecordsToReport, maxPairs: number): () => Promise<StoredUsage[]> {
  let recorded: Promise<StoredUsage[]> | undefined;
  return async () => {
    recorded ??= readAllRecords(records).catch((err: unknown) => {
      recorded = undefined;
      throw err;
    });
    const live = repositories.loadedReports();
    const samples: StoredUsage[] = [];
    for (const [user, repos] of live) for (const [repo, figures] of repos) samples.push(sampleOf(user, repo, figures));
    for (const sample of await recorded) if (!live.has(sample.user)) samples.push(sample);
    return bounded(samples, maxPairs);
  };
}

/** The usage records as the metrics read them: a user's, and the folder that lists the users. */
export interface RecordsToReport {
  readonly dir?: string;
  readUser(user: string): Promise<Map<string, UsageFigures>>;
}

async function readAllRecords(records: RecordsToReport): Promise<StoredUsage[]> {
  if (records.dir === undefined) return [];
  let users: string[];
  try {
    users = await readdir(records.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const samples: StoredUsage[] = [];
  for (const user of users.sort())
    for (const [repo, record] of await records.readUser(user).catch(() => new Map<string, UsageFigures>()))
      samples.push(sampleOf(user, repo, record));
  return samples;
}

function sampleOf(user: string, repo: string, figures: UsageFigures): StoredUsage {
  return {
    user,
    repo: `${user}/${repo}`,
    bytes: figures.bytes,
    objects: figures.objects,
    ...(figures.lastWrite === undefined ? {} : { lastWrite: figures.lastWrite / 1000 }),
  };
}

function bounded(samples: StoredUsage[], maxPairs: number): StoredUsage[] {
  if (samples.length <= maxPairs) return samples;
  // The same repositories keep their own series from one scrape to the next.
  samples.sort((a, b) => (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : 0));
  const other: StoredUsage = { user: OVERFLOW_LABEL, repo: OVERFLOW_LABEL, bytes: 0, objects: 0 };
  for (const sample of samples.slice(maxPairs - 1)) {
    other.bytes = (other.bytes ?? 0) + (sample.bytes ?? 0);
    other.objects = (other.objects ?? 0) + (sample.objects ?? 0);
    if (sample.lastWrite !== undefined) other.lastWrite = Math.max(other.lastWrite ?? 0, sample.lastWrite);
  }
  return [...samples.slice(0, maxPairs - 1), other];
}
