import type { Permissions } from "@borgstore/core";
import { nameAndParents } from "@borgstore/core/backend";
import type { HostingConfig } from "./config.js";

/** Who a signed-in login is: the user it acts for and the role it is bound to. */
export interface Identity {
  login: string;
  user: string;
  role: string;
}

const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const ALL = "lrwWD";

/**
 * The identity of an htpasswd login: its [credentials] entry, or else the user of the same name
 * as its owner. A login that is neither listed nor a valid user name has no identity (refused).
 */
export function identityOf(config: HostingConfig, login: string): Identity | undefined {
  const listed = Object.hasOwn(config.credentials, login) ? config.credentials[login] : undefined;
  if (listed) return { login, ...listed };
  return USER_NAME.test(login) ? { login, user: login, role: "owner" } : undefined;
}

/**
 * What `identity` may do in the repository `repo` of `owner`: its role's permissions in its own
 * user's repositories; in another user's, only what that repository grants its user, and never
 * more than its own role allows (a read-only credential stays read-only in a shared repository).
 * Undefined permissions are unrestricted; "denied" means no access at all.
 */
export function permissionsFor(config: HostingConfig, identity: Identity, owner: string, repo: string): Permissions | undefined | "denied" {
  const own = roleOf(config, identity.role);
  if (own === "denied") return "denied";
  if (identity.user === owner) return own;
  const key = `${owner}/${repo}`;
  const grants = Object.hasOwn(config.repos, key) ? config.repos[key]?.grants : undefined;
  const granted = grants && Object.hasOwn(grants, identity.user) ? grants[identity.user] : undefined;
  if (granted === undefined) return "denied";
  const shared = roleOf(config, granted);
  return shared === "denied" ? "denied" : intersect(own, shared);
}

function roleOf(config: HostingConfig, role: string): Permissions | undefined | "denied" {
  return Object.hasOwn(config.roles, role) ? config.roles[role] : "denied";
}

/**
 * The permissions both `a` and `b` give, as one mapping: for every namespace either names, the
 * letters both allow there (each side's letters being those of its nearest entry at or above).
 */
export function intersect(a: Permissions | undefined, b: Permissions | undefined): Permissions | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const result: Record<string, string> = {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const left = nearest(a, key);
    const right = nearest(b, key);
    result[key] = [...ALL].filter((letter) => left.includes(letter) && right.includes(letter)).join("");
  }
  return result;
}

/** The letters of the entry nearest to `name` at or above it ("" when none applies). */
function nearest(permissions: Permissions, name: string): string {
  for (const path of nameAndParents(name)) if (Object.hasOwn(permissions, path)) return permissions[path] ?? "";
  return "";
}
