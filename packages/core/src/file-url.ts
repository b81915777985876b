import { readFileSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * A path as a user types it → a percent-encoded file:// URL: relative to the working directory,
 * `~` and `~user` expanded, symlinks resolved (the reference's `FILE:` rule, docs/backend-urls.md#the-servers-file-paths).
 */
export function fileUrlFromPath(path: string): string {
  return pathToFileURL(resolveExisting(resolve(expandUser(path)))).href;
}

/** Like Python's os.path.expanduser. */
export function expandUser(path: string): string {
  const m = /^~([^/]*)(\/.*)?$/s.exec(path);
  if (!m) return path;
  const [, user = "", rest = ""] = m;
  const home = user === "" ? (process.env.HOME ?? homedir()) : homeOf(user);
  return home === undefined ? path : home + rest;
}

function homeOf(user: string): string | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const fields = line.split(":");
      if (fields[0] === user) return fields[5];
    }
  } catch {
    // no passwd file: leave ~user as it is, as Python does
  }
  return undefined;
}

/** realpath of the longest existing prefix, the rest appended (os.path.realpath on a missing path). */
function resolveExisting(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(resolveExisting(parent), basename(path));
  }
}

/**
 * What a user gave where a store URL goes: a URL as it is; a path (`/srv/repo`, `./repo`, `~/repo`,
 * `a/b`) as its file:// URL. A bare word has neither a scheme nor a slash and stays as it is, so
 * it fails as an invalid URL instead of silently naming a directory.
 */
export function urlFromPathOrUrl(text: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return text;
  return text.includes("/") || text.startsWith("~") || text === "." ? fileUrlFromPath(text) : text;
}
