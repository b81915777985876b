import type { HostingConfig } from "./config.js";
import { sameFile } from "./same-file.js";

/** A delete grace as one table of the configuration sets it; unset fields come from the table above. */
export interface DeleteGraceSetting {
  /** How long kept items stay, in milliseconds (0: delete grace off). */
  graceMs?: number;
  /** Namespaces whose deletes and overwrites are kept ("data/"; "" for all). */
  protect?: readonly string[];
}

/** The delete grace in force for one repository. */
export interface DeleteGrace {
  graceMs: number;
  protect: readonly string[];
}

/**
 * What borg 2 cannot rebuild: its chunks, archive entries, repository config and keys. `locks/`
 * and `cache/` change at every run and are rebuilt by borg; keeping them would only fill the disk.
 */
export const DEFAULT_PROTECTED: readonly string[] = ["archives/", "config/", "data/", "keys/"];

/** The resolved form of one table's keys: `{ deleteGrace }` when it sets either. */
export function graceSetting(raw: { delete_grace?: number; protect?: string[] }): { deleteGrace?: DeleteGraceSetting } {
  if (raw.delete_grace === undefined && raw.protect === undefined) return {};
  return {
    deleteGrace: {
      ...(raw.delete_grace !== undefined ? { graceMs: raw.delete_grace } : {}),
      ...(raw.protect !== undefined ? { protect: raw.protect } : {}),
    },
  };
}

export function mapValues<T, U>(record: Readonly<Record<string, T>>, map: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(value)]));
}

/** The delete grace of `user`'s `repo`: the repository's table, else its user's, else [repositories]; undefined when off. */
export function deleteGraceOf(config: HostingConfig, user: string, repo: string): DeleteGrace | undefined {
  const key = `${user}/${repo}`;
  const own = Object.hasOwn(config.repos, key) ? config.repos[key]?.deleteGrace : undefined;
  const users = Object.hasOwn(config.users, user) ? config.users[user]?.deleteGrace : undefined;
  const base = config.repositories.deleteGrace;
  const graceMs = own?.graceMs ?? users?.graceMs ?? base?.graceMs ?? 0;
  if (graceMs === 0) return undefined;
  return { graceMs, protect: own?.protect ?? users?.protect ?? base?.protect ?? DEFAULT_PROTECTED };
}

/** Whether `name` is in one of the protected namespaces. */
export function isProtected(grace: DeleteGrace, name: string): boolean {
  const file = sameFile(name);
  return grace.protect.some((ns) => file.startsWith(ns));
}

/** Whether `name` is protected or a folder that holds a protected namespace ("data" for "data/"). */
export function holdsProtected(grace: DeleteGrace, name: string): boolean {
  return isProtected(grace, name) || grace.protect.some((ns) => ns.startsWith(`${sameFile(name)}/`));
}
