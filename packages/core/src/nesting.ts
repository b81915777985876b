import { InvalidArgument } from "./errors.js";
import { MAX_NAME_LENGTH } from "./names.js";

/**
 * Deepest nesting accepted. Each level takes the next two characters of the key, and no valid
 * key is longer than MAX_NAME_LENGTH: from level 50 on, every further level is an empty directory
 * part (borg nests data/ 2 levels deep, sha256 hex keys give at most 32). The bound keeps nest()'s
 * work small whatever a client asks for.
 */
export const MAX_NESTING_LEVELS = MAX_NAME_LENGTH / 2;

/** Throws InvalidArgument unless `levels` is an integer from 0 to MAX_NESTING_LEVELS. */
export function checkNestingLevels(levels: unknown): asserts levels is number {
  if (!Number.isInteger(levels) || (levels as number) < 0 || (levels as number) > MAX_NESTING_LEVELS)
    throw new InvalidArgument(`levels must be an integer from 0 to ${MAX_NESTING_LEVELS}, but got: ${String(levels)}`);
}

/** Splits "ns/key" at the last "/" into [namespace, key]; namespace is undefined when absent. */
export function splitKey(name: string): [string | undefined, string] {
  const i = name.lastIndexOf("/");
  return i < 0 ? [undefined, name] : [name.slice(0, i), name.slice(i + 1)];
}

/**
 * Inserts `levels` directory parts of two key characters each between namespace and key,
 * then appends `suffix`: nest("data/12345678", 2) === "data/12/34/12345678".
 * Keys shorter than 2×levels yield short or empty parts, as in the reference.
 * InvalidArgument for levels outside 0…MAX_NESTING_LEVELS.
 */
export function nest(name: string, levels: number, suffix?: string): string {
  checkNestingLevels(levels);
  let result = name;
  if (levels > 0 && name !== "") {
    const [namespace, key] = splitKey(name);
    const parts: string[] = [];
    if (namespace !== undefined) parts.push(namespace);
    for (let level = 0; level < levels; level++) parts.push(key.slice(2 * level, 2 * level + 2));
    parts.push(key);
    result = parts.join("/");
  }
  return suffix ? result + suffix : result;
}

/** Inverse of nest: namespace + last path component, minus `suffix`. */
export function unnest(nested: string, namespace: string, suffix?: string): string {
  let ns = namespace;
  if (ns !== "" && !ns.endsWith("/")) ns += "/";
  if (!nested.startsWith(ns)) throw new InvalidArgument(`name ${nested} does not start with namespace ${ns}`);
  let key = nested.slice(nested.lastIndexOf("/") + 1);
  if (suffix && key.endsWith(suffix)) key = key.slice(0, -suffix.length);
  return ns + key;
}
