import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { type SftpBackend, type SftpBackendOptions, sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { requireTestServer } from "@borgstore/testkit";

/** The sshd from scripts/test-servers/sshd.sh, or undefined (loud skip) when it is not running. */
export const serverUrl = requireTestServer("BORGSTORE_TEST_SFTP_URL", "sftp backend tests (OpenSSH sshd)");

export const env = {
  host: process.env.BORGSTORE_TEST_SSHD_HOST ?? "",
  port: Number(process.env.BORGSTORE_TEST_SSHD_PORT ?? 0),
  user: process.env.BORGSTORE_TEST_SSHD_USER ?? "",
  uid: Number(process.env.BORGSTORE_TEST_SSHD_UID ?? -1),
  gid: Number(process.env.BORGSTORE_TEST_SSHD_GID ?? -1),
  key: process.env.BORGSTORE_TEST_SSHD_KEY ?? "",
  knownHosts: process.env.BORGSTORE_TEST_SSHD_KNOWN_HOSTS ?? "",
  sshConfig: process.env.BORGSTORE_TEST_SSHD_SSH_CONFIG ?? "",
  hostAlias: process.env.BORGSTORE_TEST_SSHD_HOST_ALIAS ?? "",
  dataDir: process.env.BORGSTORE_TEST_SSHD_DATA_DIR ?? "",
};

/**
 * The sshd of scripts/test-servers/sshd.sh runs on this machine (keys, known_hosts and its disk at
 * hand). A server named only by BORGSTORE_TEST_SFTP_URL leaves the tests that need them out: loudly,
 * and as a failure under CI=true.
 */
export const localServer = serverUrl !== undefined && requireLocalServer();

function requireLocalServer(): boolean {
  const needed = {
    BORGSTORE_TEST_SSHD_KEY: env.key,
    BORGSTORE_TEST_SSHD_KNOWN_HOSTS: env.knownHosts,
    BORGSTORE_TEST_SSHD_DATA_DIR: env.dataDir,
  };
  const missing = Object.entries(needed)
    .filter(([, value]) => !value)
    .map(([name]) => name);
  if (missing.length === 0) return true;
  const message = `sftp tests that need the sshd of scripts/test-servers/sshd.sh on this machine: BORGSTORE_TEST_SFTP_URL is set but not ${missing.join(", ")}`;
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING ${message}\n\n`);
  return false;
}

/**
 * Connection options for the test server that do not depend on this machine's ~/.ssh: the key and
 * known_hosts the server script generated; reconnects fast so the retry tests finish quickly.
 */
export function testOptions(extra: SftpBackendOptions = {}): SftpBackendOptions {
  // Another server named only by BORGSTORE_TEST_SFTP_URL is reached with the user's own ssh setup.
  const local = localServer ? { sshConfigFiles: [], agent: false as const, privateKeys: [env.key], knownHostsFiles: [env.knownHosts] } : {};
  return { reconnectDelay: 50, ...local, ...extra };
}

/** A unique, not yet existing path below the server's test directory. */
export function freshPath(label = "store"): string {
  return `${label}-${randomBytes(6).toString("hex")}`;
}

/** A backend on a fresh path below BORGSTORE_TEST_SFTP_URL. */
export function freshBackend(extra: SftpBackendOptions = {}, path = freshPath()): SftpBackend {
  const backend = sftpBackendFromUrl(`${(serverUrl as string).replace(/\/+$/, "")}/${path}`, testOptions(extra));
  if (!backend) throw new Error("not an sftp URL");
  return backend;
}

/** A known_hosts file that vouches for the test server's key at 127.0.0.1:`port` (e.g. a proxy's port). */
export function knownHostsForPort(port: number, dir: string): string {
  const lines = readFileSync(env.knownHosts, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("[127.0.0.1]:"))
    .map((l) => l.replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${port}`));
  const file = join(dir, `known_hosts-${port}`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** An sftp:// URL for `path` below the test directory, reached at 127.0.0.1:`port`. */
export function urlAtPort(port: number, path: string): string {
  return `sftp://${env.user}@127.0.0.1:${port}/${env.dataDir}/${path}`;
}
