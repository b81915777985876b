import { BackendURLInvalid, redactUrl } from "@borgstore/core";

/** What an `sftp://` URL names. `port` 0 means "not given" (ssh config or 22 decide). */
export interface SftpLocation {
  /** User name from the URL, if given. */
  username: string | undefined;
  /** Host name or address. */
  hostname: string;
  /** Port, 0 when not given. */
  port: number;
  /** Relative to the login directory, unless it starts with "/" (written `//abs` in the URL). */
  path: string;
}

// sftp://[USER[:PASSWORD]@]HOST[:PORT]/PATH — the slash after the authority separates, it is not part
// of PATH. A password is ignored, as OpenSSH's sftp does: it must never reach the user name, which is printed.
const SFTP_URL = /^sftp:\/\/(?:(?<username>[^@:]+)(?::[^@]*)?@)?(?<hostname>[^:/]+)(?::(?<port>\d+))?\/(?<path>.+)$/s;

/**
 * Parses `sftp://[user@]host[:port]/relative/path` or `sftp://…//absolute/path` (docs/backend-urls.md#sftp-sftp).
 * Returns undefined for other schemes; throws BackendURLInvalid for a malformed sftp URL.
 */
export function parseSftpUrl(url: string): SftpLocation | undefined {
  if (!url.startsWith("sftp:")) return undefined;
  const m = SFTP_URL.exec(url);
  if (!m?.groups) throw new BackendURLInvalid(`invalid sftp URL (expected sftp://[user@]host[:port]/path): ${redactUrl(url)}`);
  const { username, hostname, port, path } = m.groups as Record<string, string | undefined>;
  const portNumber = Number(port ?? "0");
  if (portNumber > 65535) throw new BackendURLInvalid(`invalid port in sftp URL: ${redactUrl(url)}`);
  return {
    username: username === undefined ? undefined : decode(username, url),
    hostname: hostname as string,
    port: portNumber,
    path: decode(path as string, url),
  };
}

function decode(text: string, url: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw new BackendURLInvalid(`invalid percent-encoding in sftp URL: ${redactUrl(url)}`, { cause });
  }
}
