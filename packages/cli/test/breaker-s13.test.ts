// Breaker session 13: defects of `borgstore` against a real OpenSSH sshd (scripts/test-servers/sshd.sh),
// each kept as an `it.fails` that fails now because of the defect.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

/** The sshd of scripts/test-servers/sshd.sh; missing, these tests skip loudly, or fail under CI=true. */
function sshdEnv(): { url: string; knownHosts: string } | undefined {
  const url = process.env.BORGSTORE_TEST_SFTP_URL;
  const knownHosts = process.env.BORGSTORE_TEST_SSHD_KNOWN_HOSTS;
  if (url && knownHosts) return { url, knownHosts };
  const message = "borgstore CLI breaker tests need the sshd of scripts/test-servers/sshd.sh (BORGSTORE_TEST_SFTP_URL, BORGSTORE_TEST_SSHD_KNOWN_HOSTS)";
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING ${message}\n\n`);
  return undefined;
}

const sshd = sshdEnv();
const sftpUrl = sshd?.url ?? "";
const scratch = mkdtempSync(join(tmpdir(), "cli-breaker-s13-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A HOME whose ~/.ssh knows the test server's host key but holds no key the server accepts. */
function homeWithoutKeys(): string {
  const home = mkdtempSync(join(scratch, "home-"));
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  copyFileSync((sshd as { knownHosts: string }).knownHosts, join(home, ".ssh", "known_hosts"));
  return home;
}

describe.skipIf(!sshd)("breaker s13: borgstore over sftp", () => {
  // FINDING: MEDIUM: a password in an sftp URL (sftp://user:password@host/…) is printed on stderr when the ssh login fails ("ssh authentication as user:password@host failed"), though every other URL error is redacted
  it.fails("never prints a password given in an sftp URL", async () => {
    const secret = "s3cret-Passw0rd";
    const url = sftpUrl.replace(/^sftp:\/\/([^@/]+)@/, `sftp://$1:${secret}@`);
    const result = await runCli([url, "ls"], { env: { HOME: homeWithoutKeys(), SSH_AUTH_SOCK: "" } });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("borgstore:");
    expect(result.stderr).not.toContain(secret);
  });

  // FINDING: LOW: a failed ssh login (no key accepted) exits 6 (PERMISSION_DENIED, as for a refused file) instead of 14, the exit code borgstore documents for "authentication failed"
  it.fails("a refused ssh login exits with the authentication-failed code (14)", async () => {
    const result = await runCli([sftpUrl, "ls"], { env: { HOME: homeWithoutKeys(), SSH_AUTH_SOCK: "" } });
    expect(result.stderr).toContain("authentication");
    expect(result.code).toBe(14);
  });
});
