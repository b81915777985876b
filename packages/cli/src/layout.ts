import { readFileSync } from "node:fs";
import { InvalidArgument, type StoreConfig } from "@borgstore/core";

/**
 * BorgBackup 2's repository layout (levels per namespace), plus a root entry so that names
 * outside those namespaces can be handled too.
 */
export const BORG2_LAYOUT: StoreConfig = {
  "archives/": { levels: [0] },
  "cache/": { levels: [0] },
  "config/": { levels: [0] },
  "data/": { levels: [2] },
  "keys/": { levels: [0] },
  "locks/": { levels: [0] },
  "": { levels: [0] },
};

/** `--levels data/=2` or `--levels data/=0,1` → one namespace entry. */
export function parseLevelsFlag(flag: string): [string, number[]] {
  const at = flag.lastIndexOf("=");
  if (at < 0) throw new InvalidArgument(`--levels wants NAMESPACE=LEVELS (e.g. data/=2), got: ${flag}`);
  const levels = flag
    .slice(at + 1)
    .split(",")
    .map((l) => Number(l));
  if (levels.length === 0 || levels.some((l) => !Number.isInteger(l) || l < 0))
    throw new InvalidArgument(`--levels wants non-negative integers, got: ${flag}`);
  return [flag.slice(0, at), levels];
}

/**
 * The Store config: a JSON file (`{"data/": {"levels": [2]}}` or `{"data/": [2]}`) if given,
 * else borg 2's layout; `--levels` flags then add or replace namespaces.
 */
export function resolveLayout(configFile: string | undefined, levelsFlags: readonly string[]): StoreConfig {
  let config: Record<string, { levels: number[] }> = {};
  if (configFile) {
    const parsed: unknown = JSON.parse(readFileSync(configFile, "utf8"));
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      throw new InvalidArgument(`${configFile}: the layout must be a JSON object of namespace → levels`);
    for (const [ns, value] of Object.entries(parsed))
      config[ns] = Array.isArray(value) ? { levels: value } : (value as { levels: number[] });
  } else {
    config = structuredClone(BORG2_LAYOUT) as Record<string, { levels: number[] }>;
  }
  for (const flag of levelsFlags) {
    const [ns, levels] = parseLevelsFlag(flag);
    config[ns] = { levels };
  }
  return config;
}

/** The configured namespace a name is in ("" when none but the root matches). */
export function namespaceOf(config: StoreConfig, name: string): string {
  const keys = Object.keys(config).sort((a, b) => b.length - a.length);
  return keys.find((ns) => name.startsWith(ns)) ?? "";
}
