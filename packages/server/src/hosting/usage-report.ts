import type { Repositories } from "./repositories.js";

/** One repository in a usage report (docs/hosting-mode.md#usage-endpoint). */
export interface RepositoryUsage {
  /** The repository's name (its user is the report's). */
  name: string;
  /** Its URL path, `/<user>/<repo>/`. */
  path: string;
  /** Bytes of the objects stored in it. */
  bytes: number;
  /** Objects stored in it. */
  objects: number;
  /** The bytes it may hold at most (null: no repository quota). */
  quota: number | null;
  /** When a store into it last succeeded (ISO 8601, UTC; null: none this server has seen). */
  lastWrite: string | null;
}

/** A user's usage over all their repositories, as `GET /_usage` answers it. */
export interface UsageReport {
  user: string;
  /** The sum over the user's repositories. */
  bytes: number;
  objects: number;
  /** The bytes the user's repositories may hold together at most (null: no user quota). */
  quota: number | null;
  /** The latest of the repositories' last writes. */
  lastWrite: string | null;
  /** By name. */
  repositories: RepositoryUsage[];
}

/** `user`'s report, from the figures the server keeps (Repositories.report), never by listing. */
export async function usageReport(repositories: Repositories, user: string): Promise<UsageReport> {
  const figures = await repositories.report(user);
  const names = [...figures.keys()].sort();
  let bytes = 0;
  let objects = 0;
  let latest: number | undefined;
  const repos = names.map((name): RepositoryUsage => {
    const repo = figures.get(name) ?? { bytes: 0, objects: 0 };
    bytes += repo.bytes;
    objects += repo.objects;
    if (repo.lastWrite !== undefined && (latest === undefined || repo.lastWrite > latest)) latest = repo.lastWrite;
    return {
      name,
      path: `/${user}/${name}/`,
      bytes: repo.bytes,
      objects: repo.objects,
      quota: repositories.limits(user, name).repo ?? null,
      lastWrite: isoTime(repo.lastWrite),
    };
  });
  // The user's limit does not depend on the repository: any name gives it.
  const quota = repositories.limits(user, names[0] ?? "").user ?? null;
  return { user, bytes, objects, quota, lastWrite: isoTime(latest), repositories: repos };
}

function isoTime(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}
