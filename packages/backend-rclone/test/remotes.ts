import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTestServer } from "@borgstore/testkit";
import { remoteFromUrl } from "../src/index.js";

/** A fresh directory on this machine for local-remote tests (never created: create() does that). */
export function localRoot(): string {
  return mkdtempSync(join(tmpdir(), "borgstore-rclone-"));
}

/** The test sshd (scripts/test-servers/sshd.sh) as an rclone sftp connection string prefix, or undefined. */
export function sftpRemoteBase(): { remote: (path: string) => string; dataDir: string } | undefined {
  const host = requireTestServer("BORGSTORE_TEST_SSHD_HOST", "rclone's sftp remote to the test sshd");
  if (!host) return undefined;
  const e = process.env;
  const spec =
    `:sftp,host=${host},port=${e.BORGSTORE_TEST_SSHD_PORT},user=${e.BORGSTORE_TEST_SSHD_USER},` +
    `key_file="${e.BORGSTORE_TEST_SSHD_KEY}",known_hosts_file="${e.BORGSTORE_TEST_SSHD_KNOWN_HOSTS}"`;
  const dataDir = e.BORGSTORE_TEST_SSHD_DATA_DIR as string;
  return { remote: (path) => `${spec}:${dataDir}/${path}`, dataDir };
}

/** BORGSTORE_TEST_RCLONE_URL (any rclone remote) as a remote spec prefix, or undefined when not set. */
export function envRemoteBase(): string | undefined {
  const url = process.env.BORGSTORE_TEST_RCLONE_URL;
  return url ? remoteFromUrl(url) : undefined;
}
