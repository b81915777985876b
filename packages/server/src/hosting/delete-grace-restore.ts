import { createReadStream } from "node:fs";
import { backendFromServerUrl } from "../backend-url.js";
import type { HostingConfig } from "./config.js";
import { KeptArea, type KeptItem } from "./delete-grace-area.js";
import { deleteGraceOf } from "./delete-grace-config.js";
import { DeleteGraceLayer } from "./delete-grace-layer.js";
import { sameFile } from "./same-file.js";
import { UsageRecords } from "./usage-records.js";

/** A reason the operator's listing or restore cannot run (the CLI exits with status 2). */
export class KeptRestoreError extends Error {
  /** Always "KeptRestoreError". */
  override name = "KeptRestoreError";
}

/** "user/repo" as the command line names a repository. */
export function parseRepoArgument(text: string): { user: string; repo: string } {
  const match = /^([a-z0-9][a-z0-9._-]{0,63})\/([a-z0-9][a-z0-9._-]{0,63})$/.exec(text);
  if (!match || match[1] === ".." || match[2] === "..") throw new KeptRestoreError(`a repository is named user/repo, not: ${text}`);
  return { user: match[1] as string, repo: match[2] as string };
}

/** The kept items of a repository, one line each: time kept (UTC), why, bytes, the item's name. */
export async function listKept(config: HostingConfig, target: string): Promise<string[]> {
  const { user, repo } = parseRepoArgument(target);
  return (await KeptArea.under(config.stateDir).list(user, repo)).map(
    (item) => `${new Date(item.keptAt).toISOString()}\t${item.reason}\t${item.size}\t${item.name}`,
  );
}

/**
 * Puts back, for every name with a value kept at or after `since`, the first such value: the one
 * the name held at `since` (its first change after that deleted or replaced it). Names created
 * after `since` are left as they are. The restore writes through the delete grace, so the values
 * it replaces are kept in turn (a restore to the wrong time can be undone the same way). Run it
 * with the server stopped: the repository's usage record is marked not clean, so the next start
 * measures it again.
 */
export async function restoreKept(config: HostingConfig, target: string, since: number): Promise<KeptItem[]> {
  const { user, repo } = parseRepoArgument(target);
  const area = KeptArea.under(config.stateDir);
  const firstAfter = new Map<string, KeptItem>();
  // By file, not by spelling: "data//x" is "data/x", and its later value must not win over the first.
  for (const item of await area.list(user, repo)) {
    const file = sameFile(item.name);
    if (item.keptAt >= since && !firstAfter.has(file)) firstAfter.set(file, item);
  }
  if (firstAfter.size === 0) return [];
  const url = config.repositories.backend.replaceAll("{user}", user).replaceAll("{repo}", repo);
  const store = new DeleteGraceLayer(
    await backendFromServerUrl(url),
    { area, user, repo },
    () => deleteGraceOf(config, user, repo),
    { reserve: () => () => {}, apply: () => {} },
  );
  await store.open();
  try {
    for (const item of firstAfter.values()) await store.storeStream(item.name, createReadStream(item.file), { size: item.size });
  } finally {
    await store.close();
  }
  await new UsageRecords(config.stateDir).write(user, repo, { bytes: 0, objects: 0, clean: false });
  return [...firstAfter.values()];
}
