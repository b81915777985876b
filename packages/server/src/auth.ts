import { createHash, timingSafeEqual } from "node:crypto";
import { InvalidArgument } from "@borgstore/core";

/** HTTP Basic credentials the server requires. */
export interface Credentials {
  /** The user name. */
  username: string;
  /** The password. */
  password: string;
}

/**
 * The credentials to enforce: undefined when none are given or both parts are empty. Exactly one
 * empty part is a configuration mistake that would otherwise run the server open: it throws.
 */
export function checkCredentials(credentials: Credentials | undefined): Credentials | undefined {
  if (!credentials || (!credentials.username && !credentials.password)) return undefined;
  if (!credentials.username) throw new InvalidArgument("credentials: the password is set but the user name is empty");
  if (!credentials.password) throw new InvalidArgument("credentials: the user name is set but the password is empty");
  return credentials;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

interface ExpectedDigests {
  username: string;
  password: string;
  usernameDigest: Buffer;
  passwordDigest: Buffer;
}

/** The expected credentials' digests, made once (not twice per request) for the same user name and password. */
const expectedDigests = new WeakMap<Credentials, ExpectedDigests>();

function digestsOf(expected: Credentials): ExpectedDigests {
  const known = expectedDigests.get(expected);
  if (known && known.username === expected.username && known.password === expected.password) return known;
  const made = {
    username: expected.username,
    password: expected.password,
    usernameDigest: digest(expected.username),
    passwordDigest: digest(expected.password),
  };
  expectedDigests.set(expected, made);
  return made;
}

/**
 * Basic auth as the reference checks it (docs/rest-protocol.md#authentication): scheme case-insensitive, lenient base64,
 * split at the first ":". Both parts are compared in constant time over fixed-length digests, and
 * both comparisons always run, so timing tells nothing about which part or how much matched.
 */
export function isAuthorized(header: string | undefined, expected: Credentials): boolean {
  const given = parseBasic(header);
  const { usernameDigest, passwordDigest } = digestsOf(expected);
  const userOk = timingSafeEqual(digest(given?.username ?? ""), usernameDigest);
  const passOk = timingSafeEqual(digest(given?.password ?? ""), passwordDigest);
  return given !== undefined && userOk && passOk;
}

/** The user name a Basic Authorization header carries, if it is one (for the log of failed logins). */
export function basicUserName(header: string | undefined): string | undefined {
  return parseBasic(header)?.username;
}

/** The user name and password of a Basic Authorization header, if it is one (parsed as isAuthorized does). */
export function parseBasic(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const space = header.indexOf(" ");
  if (space < 0 || header.slice(0, space).toLowerCase() !== "basic") return undefined;
  const decoded = Buffer.from(header.slice(space + 1).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
