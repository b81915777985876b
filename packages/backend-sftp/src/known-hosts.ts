import { createHash, createHmac } from "node:crypto";
import { BackendError } from "@borgstore/core";
import { readExistingFiles } from "./config-files.js";

/** One usable line of a known_hosts file. */
interface KnownHostEntry {
  marker: "" | "@revoked" | "@cert-authority";
  patterns: string;
  keyType: string;
  key: Buffer;
  source: string;
}

/** Why a host key was refused. */
export type HostKeyProblem = "unknown" | "changed" | "revoked";

/**
 * The server's host key was not verified against known_hosts, so the connection was refused
 * (as OpenSSH does with StrictHostKeyChecking). Never retried.
 */
export class HostKeyVerificationFailed extends BackendError {
  /** Whether the host's key was unknown, changed or revoked. */
  readonly problem: HostKeyProblem;
  /** The host as looked up in known_hosts. */
  readonly host: string;
  /** SHA-256 fingerprint of the key the server presented. */
  readonly fingerprint: string;

  constructor(problem: HostKeyProblem, host: string, fingerprint: string, files: readonly string[]) {
    const where = files.length ? files.join(", ") : "(no known_hosts file)";
    const text = {
      unknown: `host key for ${host} is unknown (not in ${where}); refusing to connect. Verify the fingerprint ${fingerprint} and add the key, e.g. by connecting once with ssh`,
      changed: `HOST KEY FOR ${host} HAS CHANGED (offered ${fingerprint}, ${where} has another key): refusing to connect — someone may be intercepting the connection, or the host key was replaced`,
      revoked: `host key for ${host} (${fingerprint}) is marked @revoked in ${where}; refusing to connect`,
    }[problem];
    super(text);
    this.problem = problem;
    this.host = host;
    this.fingerprint = fingerprint;
  }
}

/** The name known_hosts files use for a host: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH's SHA256 fingerprint of a public key blob. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named inside a public key blob (its first SSH string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return "";
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** Host key algorithms to offer for a known key type (an RSA key signs with rsa-sha2-*). */
export function algorithmsForKeyType(keyType: string): string[] {
  return keyType === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [keyType];
}

/** known_hosts entries from several files, checked the way OpenSSH checks a host's key. */
export class KnownHosts {
  /** The known_hosts files the entries came from. */
  readonly files: readonly string[];
  readonly #entries: KnownHostEntry[];

  private constructor(files: readonly string[], entries: KnownHostEntry[]) {
    this.files = files;
    this.#entries = entries;
  }

  /** Reads the files that exist; missing files contribute nothing. */
  static load(files: readonly string[]): KnownHosts {
    const found = readExistingFiles(files);
    const entries = found.flatMap(({ file, text }) => parseKnownHosts(text, file));
    return new KnownHosts(found.length ? found.map((f) => f.file) : files, entries);
  }

  /** Known hosts from the text of a known_hosts file; `source` names it in messages. */
  static parse(text: string, source = "known_hosts"): KnownHosts {
    return new KnownHosts([source], parseKnownHosts(text, source));
  }

  /** Key types this file knows for `host` (a name from knownHostsName), in file order. */
  keyTypesFor(host: string): string[] {
    const types: string[] = [];
    for (const e of this.#entries)
      if (e.marker === "" && hostMatches(e.patterns, host) && !types.includes(e.keyType)) types.push(e.keyType);
    return types;
  }

  /** Undefined when `key` is known for `host`, else the problem. */
  check(host: string, key: Buffer): HostKeyProblem | undefined {
    const matching = this.#entries.filter((e) => e.marker !== "@cert-authority" && hostMatches(e.patterns, host));
    if (matching.some((e) => e.marker === "@revoked" && e.key.equals(key))) return "revoked";
    const plain = matching.filter((e) => e.marker === "");
    if (plain.some((e) => e.key.equals(key))) return undefined;
    const type = keyTypeOf(key);
    if (plain.some((e) => e.keyType === type)) return "changed";
    return "unknown";
  }

  /** Throws HostKeyVerificationFailed unless `key` is known for `host`. */
  verify(host: string, key: Buffer): void {
    const problem = this.check(host, key);
    if (problem) throw new HostKeyVerificationFailed(problem, host, fingerprint(key), this.files);
  }
}

function parseKnownHosts(text: string, source: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry["marker"] = "";
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift();
      if (m !== "@revoked" && m !== "@cert-authority") continue;
      marker = m;
    }
    const [patterns, keyType, keyB64] = fields;
    if (!patterns || !keyType || !keyB64) continue;
    const key = Buffer.from(keyB64, "base64");
    if (key.length === 0) continue;
    entries.push({ marker, patterns, keyType, key, source });
  }
  return entries;
}

/** OpenSSH host pattern lists: comma-separated globs, `!` negates, `|1|salt|hash` is hashed. */
export function hostMatches(patterns: string, host: string): boolean {
  if (patterns.startsWith("|1|")) return hashedMatches(patterns, host);
  const name = host.toLowerCase();
  let matched = false;
  for (const p of patterns.split(",")) {
    const negated = p.startsWith("!");
    const glob = (negated ? p.slice(1) : p).toLowerCase();
    if (globMatches(glob, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function hashedMatches(entry: string, host: string): boolean {
  const [, , saltB64, hashB64] = entry.split("|");
  if (!saltB64 || !hashB64) return false;
  const salt = Buffer.from(saltB64, "base64");
  const expected = Buffer.from(hashB64, "base64");
  const actual = createHmac("sha1", salt).update(host).digest();
  return actual.equals(expected);
}

function globMatches(glob: string, name: string): boolean {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(name);
}
