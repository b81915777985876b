import { InvalidArgument } from "../errors.js";
import { nest } from "../nesting.js";
import type { NamespacePolicy } from "./config.js";

/**
 * The directories create_levels makes for one namespace: the namespace itself when its deepest
 * level is 0, else every deepest nesting directory (`ns/00/00` … `ns/ff/ff` for 2 levels).
 */
export function* levelDirectories(policy: NamespacePolicy): Generator<string> {
  const namespace = policy.namespace.replace(/\/+$/, "");
  const level = Math.max(...policy.levels);
  if (level < 0) throw new InvalidArgument(`Invalid levels: ${namespace}: ${JSON.stringify(policy.levels)}`);
  if (level === 0) {
    yield namespace;
    return;
  }
  const count = 256 ** level;
  for (let i = 0; i < count; i++) {
    const key = i.toString(16).padStart(2 * level, "0");
    const nested = nest(namespace ? `${namespace}/${key}` : key, level);
    yield nested.slice(0, -(2 * level + 1));
  }
}
