import { readFileSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BUILTIN_SCHEMES, type Backend, type BackendPlugin, type UrlOptions, backendFromUrl, registerBackend, urlScheme } from "@borgstore/core";

/**
 * The server's --backend value → a Backend. Besides every URL core resolves, it accepts the
 * reference's `FILE:<path>` (spec §2.3): relative to the working directory, `~` and `~user`
 * expanded, symlinks resolved, then a percent-encoded file:// URL.
 */
export async function backendFromServerUrl(url: string, options: UrlOptions = {}): Promise<Backend> {
  const resolved = url.startsWith("FILE:") ? fileUrlFromPath(url.slice("FILE:".length)) : url;
  await registerInstalledPlugin(resolved);
  return backendFromUrl(resolved, options);
}

/**
 * Backend packages installed next to the server resolve from here, not necessarily from core's
 * own location (pnpm's strict layout), so the server imports and registers the scheme's package
 * itself; when it is missing, core reports which package to install.
 */
async function registerInstalledPlugin(url: string): Promise<void> {
  const scheme = urlScheme(url);
  const packageName = scheme === undefined ? undefined : BUILTIN_SCHEMES[scheme];
  if (packageName === undefined) return;
  let plugin: BackendPlugin | undefined;
  try {
    plugin = ((await import(packageName)) as { plugin?: BackendPlugin }).plugin;
  } catch {
    return;
  }
  if (plugin) registerBackend(plugin);
}

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
