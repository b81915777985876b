import { readFileSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Backend, type UrlOptions, backendFromUrl } from "@borgstore/core";

/**
 * The server's --backend value → a Backend. Besides every URL core resolves, it accepts the
 * reference's `FILE:<path>` (spec §2.3): relative to the working directory, `~` and `~user`
 * expanded, symlinks resolved, then a percent-encoded file:// URL.
 */
export async function backendFromServerUrl(url: string, options: UrlOptions = {}): Promise<Backend> {
  const resolved = url.startsWith("FILE:") ? fileUrlFromPath(url.slice("FILE:".length)) : url;
  return backendFromUrl(resolved, options);
}

/** The file:// URL of `path` (`~` expanded, relative to the working directory, symlinks of its existing part resolved), percent-encoded. */
export function fileUrlFromPath(path: string): string {
  return pathToFileURL(resolveExisting(resolve(expandUser(path)))).href;
}

/** Like Python's os.path.expanduser. */
export function expandUser(path: string): string {
  const m = /^~([^/]*)(\/.*)?$/.exec(path);
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
