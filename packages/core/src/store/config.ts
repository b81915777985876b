import { InvalidArgument } from "../errors.js";
import { MAX_NESTING_LEVELS } from "../nesting.js";

/** How a namespace uses the cache backend (core README: Cache tier). */
export const CacheMode = {
  /** Not cached: every operation goes to the backend. */
  OFF: "off",
  /** Loads are served from the cache when present and copied into it on a miss. */
  MIRROR: "mirror",
  /** Like mirror, and stores write to the backend and the cache. */
  WRITETHROUGH: "writethrough",
} as const;
export type CacheMode = (typeof CacheMode)[keyof typeof CacheMode];

/** One namespace's configuration, as a caller writes it (both `maxAge` and `max_age` are accepted). */
export interface NamespaceConfig {
  /** Nesting levels, searched in this order; new items go to the last one. */
  levels: readonly number[];
  /** Cache mode, case-insensitive; default "off". */
  cache?: CacheMode | Uppercase<CacheMode>;
  /** Cached items not accessed for this many seconds are removed at open/close. */
  maxAge?: number;
  /** Same as `maxAge`, spelled as in the Python reference's config. */
  max_age?: number;
  /** Byte budget of this namespace in the cache; least recently used items go first at open/close. */
  size?: number;
}

/** Namespace prefix (usually with a trailing "/", "" = everything) → its configuration. */
export type StoreConfig = Readonly<Record<string, NamespaceConfig>>;

/** A validated namespace configuration. */
export interface NamespacePolicy {
  /** The namespace prefix this policy applies to. */
  readonly namespace: string;
  /** Nesting levels, searched in this order; new items go to the last one. */
  readonly levels: readonly number[];
  /** Cache mode, lower-cased. */
  readonly cache: CacheMode;
  /** Seconds after which an unaccessed cached item is removed, if set. */
  readonly maxAge: number | undefined;
  /** Byte budget in the cache, if set. */
  readonly size: number | undefined;
}

const KNOWN_KEYS = new Set(["levels", "cache", "maxAge", "max_age", "size"]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Throws InvalidArgument unless `levels` is a non-empty list of integers from 0 to MAX_NESTING_LEVELS. */
export function checkLevels(namespace: string, levels: unknown): readonly number[] {
  if (!Array.isArray(levels) || levels.length === 0)
    throw new InvalidArgument(`Namespace '${namespace}': levels must be a non-empty list, but got: ${String(levels)}`);
  for (const level of levels)
    if (!Number.isInteger(level) || level < 0 || level > MAX_NESTING_LEVELS)
      throw new InvalidArgument(`Invalid levels: ${namespace}: ${JSON.stringify(levels)}`);
  return [...levels];
}

/** The cache mode named by `value` (case-insensitive); InvalidArgument for anything else. */
export function parseCacheMode(value: unknown): CacheMode {
  if (typeof value === "string") {
    const mode = value.toLowerCase();
    if (mode === "off" || mode === "mirror" || mode === "writethrough") return mode;
  }
  throw new InvalidArgument(`Invalid cache mode: ${String(value)} (use off, mirror or writethrough)`);
}

function parseMaxAge(namespace: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    throw new InvalidArgument(`Namespace '${namespace}': max_age must be a number >= 0, but got: ${String(value)}`);
  return value;
}

function parseSize(namespace: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgument(`Namespace '${namespace}': size must be an integer >= 0, but got: ${String(value)}`);
  return value;
}

/**
 * Validates one namespace's configuration. As in the reference, max_age and size are read (and
 * validated) only when the `cache` key is present; without it the namespace is not cached.
 */
export function parseNamespaceConfig(namespace: string, config: unknown): NamespacePolicy {
  if (!isPlainObject(config))
    throw new InvalidArgument(`Namespace '${namespace}': configuration must be an object, but got: ${String(config)}`);
  for (const key of Object.keys(config))
    if (!KNOWN_KEYS.has(key)) throw new InvalidArgument(`Namespace '${namespace}': unknown configuration key: ${key}`);
  if (!("levels" in config)) throw new InvalidArgument(`Namespace '${namespace}': levels are required`);
  const levels = checkLevels(namespace, config.levels);
  if (!("cache" in config) || config.cache === undefined)
    return { namespace, levels, cache: CacheMode.OFF, maxAge: undefined, size: undefined };
  if (config.maxAge !== undefined && config.max_age !== undefined)
    throw new InvalidArgument(`Namespace '${namespace}': give either maxAge or max_age, not both`);
  return {
    namespace,
    levels,
    cache: parseCacheMode(config.cache),
    maxAge: parseMaxAge(namespace, config.maxAge ?? config.max_age),
    size: parseSize(namespace, config.size),
  };
}

/** Validates a whole Store configuration; the result is ordered longest namespace first (the match order). */
export function parseStoreConfig(config: unknown): NamespacePolicy[] {
  if (!isPlainObject(config) || Object.keys(config).length === 0)
    throw new InvalidArgument("No or invalid levels configuration given.");
  return Object.entries(config)
    .map(([namespace, nsConfig]) => parseNamespaceConfig(namespace, nsConfig))
    .sort((a, b) => b.namespace.length - a.namespace.length);
}

/** The configuration that applies to `name`: the longest namespace prefix of it. */
export function policyFor(policies: readonly NamespacePolicy[], name: string): NamespacePolicy {
  const policy = policies.find((p) => name.startsWith(p.namespace));
  if (!policy) throw new InvalidArgument(`no matching namespace found for: ${name}`);
  return policy;
}
