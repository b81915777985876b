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

// The grammar of docs/backend-urls.md#http-https-rest-rest-server: [user[:password]@]host[:port][/path][?query]. As
// with the reference, the password may hold any character unencoded ("/", ":", "#", …), so it ends at the first "@"
// after which a host and port parse, up to a "/", "?", "#" or the end: an unencoded "@" in it never makes the rest
// the host, nor digits a port. Also fixed (the reference only reads URLs it wrote itself): IPv6 hosts in brackets,
// `user@host` (user without password) does not leak into the host, and nothing is silently ignored.
const HTTP_URL = /^(https?):\/\/([\s\S]*)$/;
const USER_INFO = /^([^:@/?#]+)(?::([\s\S]*))?$/;
const HOST_AND_REST = /^(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]]+)(?::(\d*))?(\/[^?#]*)?(?:\?([^#]*))?(?:#[\s\S]*)?$/;

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

function httpTarget(m: RegExpExecArray, env: NodeJS.ProcessEnv): HttpTarget | undefined {
  const [, scheme = "", rest = ""] = m;
  const { userInfo, hostAndRest } = splitCredentials(scheme, rest);
  if (!hostAndRest || /^[/?#]/.test(hostAndRest)) return undefined;
  const parts = HOST_AND_REST.exec(hostAndRest);
  if (!parts) throw invalidHost(scheme, rest);
  const [, host, port, path = "", query = ""] = parts;
  const origin = `${scheme}://${host}${port ? `:${port}` : ""}`;
  checkOrigin(origin);
  const basePath = encodePath(path.replace(/\/+$/, ""));
  const urlUser = userInfo?.[1] ? decode(userInfo[1], "user name") : "";
  const urlPass = userInfo?.[2] ? decode(userInfo[2], "password") : "";
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

/**
 * The URL after `scheme://`, split into its credentials (USER_INFO's match) and the host onwards: at
 * the first "@" with credentials before it and a host and port after it.
 */
function splitCredentials(scheme: string, rest: string): { userInfo?: RegExpExecArray; hostAndRest: string } {
  let credentials = false;
  for (let at = rest.indexOf("@"); at >= 0; at = rest.indexOf("@", at + 1)) {
    const userInfo = USER_INFO.exec(rest.slice(0, at));
    if (!userInfo) continue;
    const hostAndRest = rest.slice(at + 1);
    if (HOST_AND_REST.test(hostAndRest)) return { userInfo, hostAndRest };
    credentials = true;
  }
  if (credentials) throw invalidHost(scheme, rest);
  return { hostAndRest: rest };
}

/** The error of a URL whose host or port does not parse, naming only what follows its last "@": no part of a password lies beyond it. */
function invalidHost(scheme: string, rest: string): BackendURLInvalid {
  const shown = /^[^/?#]*/.exec(rest.slice(rest.lastIndexOf("@") + 1))?.[0];
  return new BackendURLInvalid(`invalid host or port in URL: ${scheme}://${shown}`);
}

/**
 * The base path as it goes into request lines: a character HTTP does not allow there (a blank,
 * non-ASCII) percent-encoded as UTF-8, as the reference client (requests) and browsers send it;
 * existing %XX escapes stay as they are.
 */
function encodePath(path: string): string {
  try {
    return path.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (c) => encodeURIComponent(c));
  } catch {
    throw new BackendURLInvalid("the URL's path is not valid text");
  }
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
    // The message names the offending part only: the command line may hold a secret (sshpass -p).
    const special = words.find((w) => typeof w !== "string");
    if (special !== undefined) {
      const what = "comment" in special ? "a comment" : special.op === "glob" ? "a glob pattern" : `the operator ${special.op}`;
      throw new BackendURLInvalid(`BORGSTORE_RSH must be a plain command with arguments, without shell syntax (it holds ${what})`);
    }
    return words as string[];
  }
  return ["ssh", "-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=3", "-p", port];
}

function quoteForRemoteShell(word: string): string {
  return /^[\w@%+=:,./~-]+$/.test(word) ? word : shellQuote([word]);
}

/** `url` as given without what might be credentials (everything before its last "@"), for messages. */
export function withoutCredentials(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[\s\S]*@/, "$1");
}

/** The URL without credentials, for messages and `location`. */
export function describeTarget(target: RestTarget): string {
  if (target.kind === "http") return target.origin + target.basePath;
  return target.host ? `rest://${target.host}/${target.path}` : `rest:///${target.path}`;
}
