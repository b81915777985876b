import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Credentials } from "./auth.js";

/** What the command line (flags, env vars, password file) says about auth; undefined = not given. */
export interface AuthSettings {
  username?: string;
  /** From --password / BORGSTORE_SERVER_PASSWORD, or the first line of the password file. */
  password?: string;
  /** --no-auth: serve without credentials on purpose. */
  noAuth?: boolean;
}

/** Where an open (credential-less) server would answer. */
export type Exposure = "stdio" | "unix" | "loopback" | "network";

/**
 * The credentials to enforce (undefined: serve open), or an Error whose message says what is
 * wrong. Auth fails closed: any part given makes both required, unlike the reference, which
 * silently serves open when one of them is empty.
 */
export function resolveCredentials(settings: AuthSettings): Credentials | Error | undefined {
  const { username, password, noAuth } = settings;
  const given = username !== undefined || password !== undefined;
  if (noAuth && given) return new Error("--no-auth contradicts the user name or password that was given: use one or the other");
  if (!given) return undefined;
  if (!username && !password) return new Error("auth is half-configured: the user name and the password are both empty");
  if (!username) return new Error("auth is half-configured: a password is set but no user name (--username or BORGSTORE_SERVER_USERNAME)");
  if (!password)
    return new Error(
      "auth is half-configured: a user name is set but the password is empty or missing (--password-file with an empty first line, or no --password-file / BORGSTORE_SERVER_PASSWORD)",
    );
  return { username, password };
}

/**
 * Why serving open here is refused, or undefined. Open is fine where only this machine's users
 * reach the server: stdio, a unix socket (file permissions), a loopback address. Anything
 * reachable from the network needs credentials or an explicit --no-auth (restic rest-server's rule).
 */
export function openServingProblem(exposure: Exposure, where: string, noAuth: boolean): string | undefined {
  if (noAuth || exposure !== "network") return undefined;
  return `refusing to serve ${where} without authentication: give --username and a password (BORGSTORE_SERVER_PASSWORD or --password-file), or --no-auth to serve it open on purpose`;
}

export function isLoopbackAddress(address: string): boolean {
  const ip = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, "");
  if (isIP(ip) === 4) return ip.startsWith("127.");
  return ip === "::1" || ip === "0:0:0:0:0:0:0:1";
}

/** A --host value is loopback when it is a loopback address or a name that resolves only to such. */
export async function hostExposure(host: string): Promise<Exposure> {
  if (isIP(host)) return isLoopbackAddress(host) ? "loopback" : "network";
  try {
    const addresses = await lookup(host, { all: true });
    return addresses.length > 0 && addresses.every((a) => isLoopbackAddress(a.address)) ? "loopback" : "network";
  } catch {
    return "network";
  }
}
