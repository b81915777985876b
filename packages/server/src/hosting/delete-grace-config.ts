import { z } from "zod";
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

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const TEN_YEARS_MS = 3650 * 86_400_000;

const duration = z.string().transform((text, ctx) => {
  if (text === "off" || text === "0") return 0;
  const match = /^(\d{1,7})(s|m|h|d)$/.exec(text);
  const ms = match ? Number(match[1]) * (UNITS[match[2] as string] as number) : Number.NaN;
  if (!(ms > 0 && ms <= TEN_YEARS_MS)) {
    ctx.addIssue({ code: "custom", message: `a grace is a whole number of s, m, h or d up to 3650d (e.g. "30d"), or "off": not "${text}"` });
    return z.NEVER;
  }
  return ms;
});

const namespace = z
  .string()
  .regex(/^([a-z0-9_-]+\/?)*$/, 'a protected namespace is "" (all) or a folder of plain names such as "data/"')
  .transform((ns) => (ns === "" || ns.endsWith("/") ? ns : `${ns}/`));

/** The keys `delete_grace` and `protect`, in [repositories], [users.X] and [repos."X/Y"]. */
export const deleteGraceKeys = {
  delete_grace: duration.optional(),
  protect: z.array(namespace).optional(),
};

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
