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
  const path = parsed.pathname.endsWith("/") ? parsed.pathname : `${parsed.pathname}/`;
  const origin = `${scheme === "webdavs" ? "https" : "http"}://${parsed.host}`;
  return {
    baseUrl: `${origin}${path}`,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
  };
}
