// Breaker session 13: defects of `borgstore` against a real OpenSSH sshd (scripts/test-servers/sshd.sh),
// each kept as an `it.fails` that fails now because of the defect.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { filesBelow, startCli, waitFor } from "./cli-process.js";
import { runCli } from "./run-cli.js";

/** The sshd of scripts/test-servers/sshd.sh; missing, these tests skip loudly, or fail under CI=true. */
interface SshdEnv {
  url: string;
  knownHosts: string;
  key: string;
  dataDir: string;
  port: number;
  user: string;
}

function sshdEnv(): SshdEnv | undefined {
  const url = process.env.BORGSTORE_TEST_SFTP_URL;
  const knownHosts = process.env.BORGSTORE_TEST_SSHD_KNOWN_HOSTS;
  const key = process.env.BORGSTORE_TEST_SSHD_KEY;
  const dataDir = process.env.BORGSTORE_TEST_SSHD_DATA_DIR;
  const port = Number(process.env.BORGSTORE_TEST_SSHD_PORT);
  const user = process.env.BORGSTORE_TEST_SSHD_USER;
  if (url && knownHosts && key && dataDir && port && user) return { url, knownHosts, key, dataDir, port, user };
  const message = "borgstore CLI breaker tests need the sshd of scripts/test-servers/sshd.sh (BORGSTORE_TEST_SFTP_URL, BORGSTORE_TEST_SSHD_*)";
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
  copyFileSync((sshd as SshdEnv).knownHosts, join(home, ".ssh", "known_hosts"));
  return home;
}

/** A loopback TCP proxy in front of the sshd whose connections the test can cut, like a network failure. */
class CuttableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect(targetPort, "127.0.0.1");
      this.#sockets.add(client).add(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this;
  }

  cutAll(): void {
    for (const s of this.#sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A HOME whose ~/.ssh/config sends host alias `breaker-proxy` through `port` with the test key. */
function homeThroughProxy(port: number): string {
  const { key, knownHosts, port: sshdPort, user } = sshd as SshdEnv;
  const home = mkdtempSync(join(scratch, "home-"));
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  const known = readFileSync(knownHosts, "utf8")
    .split("\n")
    .filter((line) => line.startsWith(`[127.0.0.1]:${sshdPort} `))
    .map((line) => line.replace(`[127.0.0.1]:${sshdPort} `, `[127.0.0.1]:${port} `));
  writeFileSync(join(home, ".ssh", "known_hosts"), `${known.join("\n")}\n`);
  writeFileSync(
    join(home, ".ssh", "config"),
    `Host breaker-proxy\n  HostName 127.0.0.1\n  Port ${port}\n  User ${user}\n  IdentityFile ${key}\n  IdentitiesOnly yes\n`,
  );
  return home;
}

describe.skipIf(!sshd)("breaker s13: borgstore over sftp", () => {
  // FINDING: MEDIUM: a password in an sftp URL (sftp://user:password@host/…) is printed on stderr when the ssh login fails ("ssh authentication as user:password@host failed"), though every other URL error is redacted
  // fixed: the sftp URL parser drops a password (as OpenSSH's sftp does), so it never becomes part of the user name that messages print
  it("never prints a password given in an sftp URL", async () => {
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
  // FINDING: LOW: a put over sftp cut off by a lost connection leaves its temp file (every byte sent so far) on the server for good: the reconnect that would remove it never comes in a process that ends, and check --repair does not look at sftp stores ("0 problems left")
  it.fails("an interrupted put leaves no temp file behind once check --repair ran", async () => {
    const { dataDir } = sshd as SshdEnv;
    const proxy = await new CuttableProxy((sshd as SshdEnv).port).start();
    try {
      const env = { HOME: homeThroughProxy(proxy.port), SSH_AUTH_SOCK: "" };
      const path = `cli-breaker-${Date.now()}`;
      const url = `sftp://breaker-proxy/${dataDir}/${path}`;
      expect((await runCli([url, "create"], { env })).code).toBe(0);
      const put = startCli([url, "put", "data/0123abcd", "-"], env);
      put.child.stdin.write(Buffer.alloc(4 * 1024 * 1024, 7));
      const temps = async () => (await filesBelow(join(dataDir, path))).filter((f) => f.endsWith(".tmp"));
      await waitFor("the put's temp file on the server", async () => (await temps()).length > 0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      proxy.cutAll();
      // The put notices at its next write (an idle stdin would keep it waiting, as any pipe reader).
      await new Promise((resolve) => setTimeout(resolve, 300));
      put.child.stdin.end(Buffer.alloc(1024 * 1024, 8));
      expect(await put.exited).toBe(10);
      const check = await runCli([url, "check", "--repair"], { env });
      expect(check.code).toBe(0);
      expect(await temps()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
  // FINDING: MEDIUM: with a stale SSH_AUTH_SOCK (the agent of an ended login) every sftp command fails with exit 10 "Failed to connect to agent", though ~/.ssh/id_ed25519 would log in (ssh itself goes on to the key files)
  // fixed: the sftp backend ignores ssh2's 'agent' level errors and goes on to the key files
  it("a stale SSH_AUTH_SOCK does not keep ~/.ssh/id_ed25519 from logging in", async () => {
    const home = homeWithoutKeys();
    copyFileSync((sshd as SshdEnv).key, join(home, ".ssh", "id_ed25519"));
    chmodSync(join(home, ".ssh", "id_ed25519"), 0o600);
    const url = `${sftpUrl.replace(/\/+$/, "")}/cli-breaker-agent-${Date.now()}`;
    const result = await runCli([url, "create"], { env: { HOME: home, SSH_AUTH_SOCK: join(home, "agent-of-an-ended-login.sock") } });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });
  // FINDING: LOW: `ls` prints item names as they are on the server, control characters included: a name planted server-side with ESC c resets the user's terminal, one with a newline shows up as a second, made-up entry
  // fixed: ls (text output) shows control characters in names as \xNN (printableName); --json was already escaped by JSON
  it("ls shows server-planted names with control characters escaped, one entry per line", async () => {
    const { dataDir, key } = sshd as SshdEnv;
    const home = homeWithoutKeys();
    copyFileSync(key, join(home, ".ssh", "id_ed25519"));
    chmodSync(join(home, ".ssh", "id_ed25519"), 0o600);
    const env = { HOME: home, SSH_AUTH_SOCK: "" };
    const path = `cli-breaker-names-${Date.now()}`;
    const url = `${sftpUrl.replace(/\/+$/, "")}/${path}`;
    expect((await runCli([url, "create"], { env })).code).toBe(0);
    expect((await runCli([url, "put", "config/aa", "-"], { env, input: Buffer.from("a") })).code).toBe(0);
    // Valid names (ASCII, lowercase, no blank) that another client or the server's owner could write.
    writeFileSync(join(dataDir, path, "config", "bb\x1bc"), "");
    writeFileSync(join(dataDir, path, "config", "cc\nfake-entry"), "");
    const result = await runCli([url, "ls", "config"], { env });
    expect(result.code).toBe(0);
    const lines = result.stdout.toString().split("\n").filter(Boolean);
    expect(lines).toHaveLength(3);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for them
    expect(result.stdout.toString()).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
  });
});
