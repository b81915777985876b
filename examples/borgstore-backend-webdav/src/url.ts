import { BackendURLInvalid, redactUrl } from "@borgstore/core";

/** Where a WebDAV store lives: the collection's http(s) URL and the credentials to send. */
export interface WebdavLocation {
  /** http(s)://host[:port]/path/ — always ending in "/", without credentials. */
  baseUrl: string;
  username?: string;
  password?: string;
}

export const WEBDAV_SCHEMES = ["webdav", "webdavs"] as const;

/**
 * `webdav://[user[:password]@]host[:port]/path` → plain HTTP, `webdavs://…` → HTTPS; undefined for
 * any other URL. Credentials are percent-decoded (write `%40` for an `@` in a password).
 */
export function locationFromUrl(url: string): WebdavLocation | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== "webdav" && scheme !== "webdavs") return undefined;
  if (!parsed.hostname) return undefined;
  // `/`, and paths such as `/a/..` that the URL parser resolves to it, name the whole share.
  if (parsed.pathname === "/" || parsed.pathname === "")
    throw new BackendURLInvalid(`a WebDAV store needs its own collection below the server's root: ${redactUrl(url)}`);
  const path = parsed.pathname.endsWith("/") ? parsed.pathname : `${parsed.pathname}/`;
  const origin = `${scheme === "webdavs" ? "https" : "http"}://${parsed.host}`;
  return {
    baseUrl: `${origin}${path}`,
    username: parsed.username ? decoded(parsed.username, url) : undefined,
    password: parsed.password ? decoded(parsed.password, url) : undefined,
  };
}

function decoded(text: string, url: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new BackendURLInvalid(`invalid percent-encoding in WebDAV URL: ${redactUrl(url)}`);
  }
}
