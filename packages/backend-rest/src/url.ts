import { BackendURLInvalid } from "@borgstore/core";
import { parse as shellParse, quote as shellQuote } from "shell-quote";

/** An http(s):// target: requests go to `origin` + `basePath` + "/" + name. */
export interface HttpTarget {
  /** Discriminates the target kinds. */
  kind: "http";
  /** scheme://host[:port], IPv6 hosts in brackets. */
  origin: string;
  /** Path prefix without trailing slashes ("" for the root). */
  basePath: string;
  /** Set only when both user and password are non-empty. */
  auth?: {
    /** Basic-auth user name. */
    username: string;
    /** Basic-auth password. */
    password: string;
  };
  /** Query parameters of the URL (the reference client ignores them; we read `concurrency`). */
  params: URLSearchParams;
}

/** A rest:// target: HTTP over the stdin/stdout of a local child or of ssh. */
export interface StdioTarget {
  /** Discriminates the target kinds. */
  kind: "stdio";
  /** argv of the child: the server itself, or ssh (or BORGSTORE_RSH) running it remotely. */
  command: string[];
  /** The storage path as given in the URL (relative to cwd / the remote login directory, or absolute). */
  path: string;
  /** Remote host, undefined for a local child. */
  host?: string;
}

/** Where a RestBackend sends its requests. */
export type RestTarget = HttpTarget | StdioTarget;

/** Name of the server executable the reference client spawns, locally and through ssh. */
export const SERVER_EXECUTABLE = "borgstore-server-rest";

// The grammar of docs/backend-urls.md#http-https-rest-rest-server, with two fixes the Python peer never sees (it
// only reads URLs it wrote itself): IPv6 hosts in brackets, and `user@host` (user without password) no longer leaks into the host.
const HTTP_URL =
  /^(https?):\/\/(?:([^:@/]+)(?::([^@]*))?@)?(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]]+)(?::(\d+))?(\/[^?#]*)?(?:\?([^#]*))?/;

// docs/backend-urls.md#http-https-rest-rest-server: rest://[user@]host[:port]/path; an empty host means a local child.
const REST_URL = /^rest:\/\/(?:(?:([^@:/]+)@)?(\[[0-9A-Fa-f:.]+\]|[^:/[][^:/]*)(?::(\d+))?)?\/([^?#]+)/;

/** Decodes a user name or password; the message never shows it (the password is a secret). */
function decode(part: string, what: "user name" | "password"): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new BackendURLInvalid(`invalid percent-encoding in the URL's ${what}`);
  }
}

/**
 * Parses a REST backend URL. Returns undefined for URLs of other schemes or forms the reference
 * does not recognise (Store then raises BackendURLInvalid).
 */
export function parseRestUrl(url: string, env: NodeJS.ProcessEnv = process.env): RestTarget | undefined {
  const http = HTTP_URL.exec(url);
  if (http) return httpTarget(http, env);
  const rest = REST_URL.exec(url);
  if (rest) return stdioTarget(rest, env);
  return undefined;
}

function httpTarget(m: RegExpExecArray, env: NodeJS.ProcessEnv): HttpTarget {
  const [, scheme, rawUser, rawPass, host, port, path = "", query = ""] = m;
  const origin = `${scheme}://${host}${port ? `:${port}` : ""}`;
  const basePath = path.replace(/\/+$/, "");
  checkOrigin(origin);
  const urlUser = rawUser ? decode(rawUser, "user name") : "";
  const urlPass = rawPass ? decode(rawPass, "password") : "";
  let username = urlUser;
  let password = urlPass;
  if (!(urlUser && urlPass)) {
    // URL credentials win; otherwise the environment fills what the URL lacks.
    username = urlUser || env.BORGSTORE_REST_USERNAME || "";
    password = urlPass || env.BORGSTORE_REST_PASSWORD || "";
  }
  const target: HttpTarget = { kind: "http", origin, basePath, params: new URLSearchParams(query) };
  if (username && password) target.auth = { username, password };
  return target;
}

/** A port or host fetch would reject (ERR_INVALID_URL) is a bad backend URL, found before any request. */
function checkOrigin(origin: string): void {
  if (!URL.canParse(origin)) throw new BackendURLInvalid(`invalid host or port in URL: ${origin}`);
}

function stdioTarget(m: RegExpExecArray, env: NodeJS.ProcessEnv): StdioTarget {
  const [, user, host, port = "22", path = ""] = m;
  const serverArgs = [SERVER_EXECUTABLE, "--stdio", "--backend", `FILE:${path}`];
  if (!host) return { kind: "stdio", command: serverArgs, path };
  // ssh joins the remote command with blanks for the remote shell: quote what it would split.
  const remote = [SERVER_EXECUTABLE, "--stdio", "--backend", quoteForRemoteShell(`FILE:${path}`)];
  // ssh wants a bare IPv6 address; the brackets belong to the URL only.
  const sshHost = host.startsWith("[") ? host.slice(1, -1) : host;
  const destination = user ? `${user}@${sshHost}` : sshHost;
  return { kind: "stdio", command: [...sshCommand(port, env), destination, ...remote], path, host: sshHost };
}

/** `ssh` with keep-alives and the port, or BORGSTORE_RSH split like a shell would, used verbatim (docs/rest-protocol.md#transports). */
export function sshCommand(port: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const rsh = env.BORGSTORE_RSH;
  if (rsh) {
    const words = shellParse(rsh, (name) => `$${name}`);
    if (!words.every((w): w is string => typeof w === "string"))
      throw new BackendURLInvalid(`BORGSTORE_RSH must be a plain command with arguments: ${rsh}`);
    return words;
  }
  return ["ssh", "-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=3", "-p", port];
}

function quoteForRemoteShell(word: string): string {
  return /^[\w@%+=:,./~-]+$/.test(word) ? word : shellQuote([word]);
}

/** The URL without credentials, for messages and `location`. */
export function describeTarget(target: RestTarget): string {
  if (target.kind === "http") return target.origin + target.basePath;
  return target.host ? `rest://${target.host}/${target.path}` : `rest:///${target.path}`;
}
