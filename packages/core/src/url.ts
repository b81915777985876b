import type { Backend } from "./backend.js";
import { memoryPlugin } from "./backends/memory.js";
import { BackendError, BackendNotInstalled, BackendURLInvalid, InvalidArgument } from "./errors.js";
import type { BackendPlugin, UrlOptions } from "./plugin.js";
import { importFromApplication } from "./package-import.js";

/** URL schemes of the first-party backend packages, imported on first use. */
export const BUILTIN_SCHEMES: Readonly<Record<string, string>> = {
  file: "@borgstore/backend-posixfs",
  sftp: "@borgstore/backend-sftp",
  rclone: "@borgstore/backend-rclone",
  s3: "@borgstore/backend-s3",
  b2: "@borgstore/backend-s3",
  http: "@borgstore/backend-rest",
  https: "@borgstore/backend-rest",
  rest: "@borgstore/backend-rest",
};

/**
 * One registry per process, not per copy of core: a community backend that resolves another copy
 * of core than the application must still register where the application looks.
 */
const REGISTRY = Symbol.for("@borgstore/core.backend-registry");
const registered: Map<string, BackendPlugin> = ((globalThis as { [REGISTRY]?: Map<string, BackendPlugin> })[REGISTRY] ??=
  new Map());

/**
 * Makes `plugin` answer URLs of its schemes. A registration wins over a built-in package for the
 * same scheme (so a scheme can be served by another implementation); the latest registration of a
 * scheme wins over earlier ones.
 */
export function registerBackend(plugin: BackendPlugin): void {
  if (plugin.schemes.length === 0) throw new InvalidArgument("a backend plugin must name at least one URL scheme");
  for (const scheme of plugin.schemes) registered.set(normaliseScheme(scheme), plugin);
}

/** Removes the registration of `scheme` (if it belongs to `plugin`, when given); built-ins become visible again. */
export function unregisterBackend(scheme: string, plugin?: BackendPlugin): void {
  const key = normaliseScheme(scheme);
  if (plugin === undefined || registered.get(key) === plugin) registered.delete(key);
}

function normaliseScheme(scheme: string): string {
  const s = scheme.replace(/:$/, "").toLowerCase();
  if (!/^[a-z][a-z0-9+.-]*$/.test(s)) throw new InvalidArgument(`invalid URL scheme: ${scheme}`);
  return s;
}

/**
 * The URL with any credentials (`user:secret@`) replaced, for error messages. Everything up to the
 * last "@" goes: a password may hold an unencoded "/" or a URL have one slash only, and a path
 * with an "@" losing its start is better than a secret shown.
 */
export function redactUrl(url: string): string {
  if (/^file:/i.test(url)) return url; // no credentials there, and "@" is a path's
  return url.replace(/^([a-z][a-z0-9+.-]*:\/{0,2})[^@]*@/i, "$1***@");
}

/** The scheme of `url`, lowercase, or undefined. */
export function urlScheme(url: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
}

/**
 * A backend for `url`: registered plugins first, then `memory:`, then the first-party package of
 * the scheme, imported on demand. Unknown scheme or a URL the plugin rejects → BackendURLInvalid;
 * a first-party package that is not installed → BackendNotInstalled naming it; a quota for a
 * backend that cannot enforce one → InvalidArgument.
 */
export async function backendFromUrl(url: string, options: UrlOptions = {}): Promise<Backend> {
  if (typeof url !== "string") throw new BackendURLInvalid(`Invalid Backend Storage URL: ${String(url)}`);
  const scheme = urlScheme(url);
  const plugin = scheme === undefined ? undefined : await pluginFor(scheme);
  if (!plugin) throw new BackendURLInvalid(`Invalid or unsupported Backend Storage URL: ${redactUrl(url)}`);
  const backend = plugin.fromUrl(url, options);
  if (!backend) throw new BackendURLInvalid(`Invalid or unsupported Backend Storage URL: ${redactUrl(url)}`);
  if (options.quota !== undefined && !backend.capabilities.quota)
    throw new InvalidArgument(`A quota is not supported by the backend of ${redactUrl(url)}`);
  return backend;
}

async function pluginFor(scheme: string): Promise<BackendPlugin | undefined> {
  const own = registered.get(scheme);
  if (own) return own;
  if (scheme === "memory") return memoryPlugin;
  const packageName = BUILTIN_SCHEMES[scheme];
  return packageName === undefined ? undefined : importPlugin(packageName, scheme);
}

async function importPlugin(packageName: string, scheme: string): Promise<BackendPlugin> {
  let module: { plugin?: BackendPlugin };
  try {
    module = await import(packageName);
  } catch (cause) {
    if (!isMissingPackage(cause, packageName))
      throw new BackendError(`loading ${packageName} for "${scheme}:" URLs failed`, { cause });
    const fromApplication = await importFromApplication(packageName).catch((err: unknown) => {
      throw new BackendError(`loading ${packageName} for "${scheme}:" URLs failed`, { cause: err });
    });
    module = (fromApplication ?? {}) as { plugin?: BackendPlugin };
    if (!module.plugin) throw new BackendNotInstalled(packageName, scheme, { cause });
  }
  const plugin = module.plugin;
  if (!plugin || typeof plugin.fromUrl !== "function")
    throw new BackendError(`${packageName} does not export a backend plugin named "plugin"`);
  return plugin;
}

/**
 * True only when `packageName` itself cannot be found ("Cannot find package 'NAME' imported from
 * …"), not when the package is there but one of its own imports fails.
 */
function isMissingPackage(err: unknown, packageName: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : "";
  return (
    (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "MODULE_NOT_FOUND") &&
    (message.includes(`'${packageName}'`) || message.includes(`"${packageName}"`))
  );
}
