import { HttpError } from "../http-error.js";
import { type RequestTarget, parseRequestTarget } from "../request-target.js";

/** A request under `/<user>/<repo>/`: whose repository, and the target inside it. */
export interface TenantTarget {
  user: string;
  repo: string;
  /** "user/repo", as the configuration's [repos] tables and the metrics name a repository. */
  key: string;
  /** The request target as the repository's store sees it (its name relative to the repository). */
  target: RequestTarget;
}

/** User and repository names as the configuration allows them (hosting/config.ts). */
const SEGMENT = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Splits a raw request target into its repository and the rest. The first two segments are taken
 * from the raw bytes, never decoded, and must each be a plain name (no "%", no upper case, no
 * unicode, no empty segment, not "." or ".."): a path that would need decoding or normalising to
 * name a repository names none (404), so no encoding can reach a repository it does not spell out.
 * The rest is checked as the single-store mode checks a whole target.
 */
export function parseTenantTarget(rawTarget: string): TenantTarget | undefined {
  if (!rawTarget.startsWith("/")) return undefined;
  const q = rawTarget.indexOf("?");
  const pathEnd = q < 0 ? rawTarget.length : q;
  // "/user/repo" then the rest, found by index: no regular expression and no copies of the path.
  const userEnd = rawTarget.indexOf("/", 1);
  if (userEnd < 0 || userEnd > pathEnd) return undefined;
  let repoEnd = rawTarget.indexOf("/", userEnd + 1);
  if (repoEnd < 0 || repoEnd > pathEnd) repoEnd = pathEnd;
  const user = rawTarget.slice(1, userEnd);
  const repo = rawTarget.slice(userEnd + 1, repoEnd);
  if (!isName(user) || !isName(repo)) return undefined;
  // "/alice/laptop" without the slash is the repository's root, as "/" is in the single-store mode.
  const rest = repoEnd === pathEnd ? "/" : rawTarget.slice(repoEnd, pathEnd);
  if (rest.startsWith("//")) throw new HttpError(400, "Bad Request: empty path segment");
  const target = parseRequestTarget(q < 0 ? rest : `${rest}${rawTarget.slice(q)}`);
  return { user, repo, key: rawTarget.slice(1, repoEnd), target };
}

/** A user or repository name as the configuration and request paths allow it. */
export function isName(segment: string): boolean {
  return SEGMENT.test(segment) && segment !== "." && segment !== "..";
}
