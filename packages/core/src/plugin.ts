import type { Backend } from "./backend.js";
import type { Permissions } from "./types.js";

/** Options that URL resolution passes to a backend (server flags --permissions / --quota). */
export interface UrlOptions {
  /** Enforced by core for every backend. */
  permissions?: Permissions;
  /** Byte limit; only backends that track usage accept it (posixfs), others throw InvalidArgument. */
  quota?: number;
}

/**
 * What a backend package exports as `plugin` so URLs reach it: built-in schemes are imported by
 * package name on demand; a community package calls registerBackend(plugin) itself.
 */
export interface BackendPlugin {
  /** URL schemes without the colon, e.g. ["s3", "b2"]. */
  readonly schemes: readonly string[];
  /** A backend for `url`, or undefined when the URL is not one this plugin understands. */
  fromUrl(url: string, options?: UrlOptions): Backend | undefined;
}
