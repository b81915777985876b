import { InvalidArgument } from "./errors.js";

/** Splits "ns/key" at the last "/" into [namespace, key]; namespace is undefined when absent. */
export function splitKey(name: string): [string | undefined, string] {
  const i = name.lastIndexOf("/");
  return i < 0 ? [undefined, name] : [name.slice(0, i), name.slice(i + 1)];
}

/**
 * Inserts `levels` directory parts of two key characters each between namespace and key,
 * then appends `suffix`: nest("data/12345678", 2) === "data/12/34/12345678".
 * Keys shorter than 2×levels yield short or empty parts, as in the reference.
 */
export function nest(name: string, levels: number, suffix?: string): string {
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
