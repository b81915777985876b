import { HttpError } from "../http-error.js";
import { type RequestTarget, parseRequestTarget } from "../request-target.js";

/** A request under `/<user>/<repo>/`: whose repository, and the target inside it. */
export interface TenantTarget {
  user: string;
  repo: string;
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
  const path = q < 0 ? rawTarget : rawTarget.slice(0, q);
  const query = q < 0 ? "" : rawTarget.slice(q);
  const match = /^\/([^/]*)\/([^/]*)(\/.*)?$/.exec(path);
  if (!match) return undefined;
  const [, user = "", repo = "", rest = "/"] = match;
  if (!isName(user) || !isName(repo)) return undefined;
  // "/alice/laptop" without the slash is the repository's root, as "/" is in the single-store mode.
  if (rest.startsWith("//")) throw new HttpError(400, "Bad Request: empty path segment");
  return { user, repo, target: parseRequestTarget(`${rest}${query}`) };
}

/** A user or repository name as the configuration and request paths allow it. */
export function isName(segment: string): boolean {
  return SEGMENT.test(segment) && segment !== "." && segment !== "..";
}
