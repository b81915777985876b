import { spawn } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TLSSocket, connect } from "node:tls";
import { fileURLToPath } from "node:url";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, CLI, type ServerProcess, startServer, tempDir } from "./helpers.js";
import { issue, makeCa } from "./tls-helpers.js";

/**
 * Issue 16's native TLS: --tls-cert/--tls-key, with certificates from a CA made here by openssl,
 * used by our CLI (NODE_EXTRA_CA_CERTS) and the unmodified Python client (REQUESTS_CA_BUNDLE),
 * and reloaded on SIGHUP without dropping connections.
 */

const BORGSTORE_CLI = fileURLToPath(new URL("../../cli/dist/cli.js", import.meta.url));
const CREDENTIALS = { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" };
const peer = requireReferencePeer("the reference REST client over TLS", ["requests"]);

function run(command: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (t: string) => (stdout += t));
    child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
    child.once("error", reject);
    child.once("close", (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** One kept-alive TLS connection trusting only the test CA; requests one at a time. */
class TlsConnection {
  #buffer = "";
  private constructor(readonly socket: TLSSocket) {
    socket.setEncoding("latin1").on("data", (t: string) => (this.#buffer += t));
  }

  static open(port: number, ca: string): Promise<TlsConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, ca: readFileSync(ca), servername: "localhost" }, () => resolve(new TlsConnection(socket)));
      socket.once("error", reject);
    });
  }

  /** The serial number of the certificate the server presented (hex). */
  get serial(): string {
    return this.socket.getPeerCertificate().serialNumber;
  }

  /** GET /, then the status of the answer (its body read by Content-Length). */
  list(): Promise<number> {
    this.socket.write(`GET / HTTP/1.1\r\nHost: localhost\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\n\r\n`);
    return this.answer();
  }

  /** The status of the next answer (its body read by Content-Length). */
  async answer(): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const end = this.#buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.#buffer.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (this.#buffer.length >= end + 4 + length) {
          this.#buffer = this.#buffer.slice(end + 4 + length);
          return Number(head.slice(9, 12));
        }
      }
      if (this.socket.destroyed || Date.now() > deadline) throw new Error(`no answer on the connection (got ${JSON.stringify(this.#buffer)})`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

async function waitForLog(server: ServerProcess, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pattern.test(server.stderr())) {
    if (Date.now() > deadline) throw new Error(`log never matched ${pattern}: ${server.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("--tls-cert and --tls-key", () => {
  const dir = tempDir();
  let ca: string;
  let first: { cert: string; key: string };
  beforeAll(() => {
    ca = makeCa(dir.path);
    first = issue(dir.path, "first", 0x1001);
  });
  afterAll(() => dir.remove());

  it.each([
    ["--tls-cert alone", (c: { cert: string; key: string }) => ["--tls-cert", c.cert], /TLS is half-configured: --tls-cert is given without --tls-key/],
    ["--tls-key alone", (c: { cert: string; key: string }) => ["--tls-key", c.key], /TLS is half-configured: --tls-key is given without --tls-cert/],
    ["a key that is not the certificate's", (c: { cert: string; key: string }) => ["--tls-cert", c.cert, "--tls-key", join(dir.path, "ca.key")], /are not usable/],
    ["a missing file", (c: { cert: string; key: string }) => ["--tls-cert", `${c.cert}.missing`, "--tls-key", c.key], /cannot read the TLS certificate .*ENOENT/],
  ])("refuses to start with %s (exit 2)", async (_what, args, message) => {
    const store = join(dir.path, "refused-store");
    const result = await run(process.execPath, [CLI, "--port", "0", "--backend", `file://${store}`, "--create", ...args(first)], {});
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    // Refused before --create touched anything.
    expect(existsSync(store)).toBe(false);
  });

  describe("serving HTTPS", () => {
    let server: ServerProcess;
    let certFile: string;
    let keyFile: string;
    beforeAll(async () => {
      // The server reads these paths; the test replaces their contents.
      certFile = join(dir.path, "live.pem");
      keyFile = join(dir.path, "live.key");
      copyFileSync(first.cert, certFile);
      copyFileSync(first.key, keyFile);
      server = await startServer(["--backend", `file://${join(dir.path, "store")}`, "--create", "--tls-cert", certFile, "--tls-key", keyFile], CREDENTIALS);
    });
    afterAll(async () => {
      expect(await server.stop()).toBe(0);
    });

    it("says https in its listening line and refuses plain HTTP on the port", async () => {
      expect(server.stderr()).toMatch(/on https:\/\/127\.0\.0\.1:\d+\//);
      await expect(fetch(`http://127.0.0.1:${server.port}/`, { headers: { Accept: ACCEPT, Authorization: AUTH } })).rejects.toThrow();
    });

    it("serves our CLI over https with the CA from NODE_EXTRA_CA_CERTS (and not without it)", async () => {
      const url = `https://testuser:testpass@localhost:${server.port}/`;
      const value = "a value over TLS\n".repeat(100);
      const put = await run(process.execPath, [BORGSTORE_CLI, url, "put", "data/ours", "-"], { NODE_EXTRA_CA_CERTS: ca }, value);
      expect(put.status, put.stderr).toBe(0);
      const get = await run(process.execPath, [BORGSTORE_CLI, url, "get", "data/ours"], { NODE_EXTRA_CA_CERTS: ca });
      expect(get.status, get.stderr).toBe(0);
      expect(get.stdout).toBe(value);
      const untrusted = await run(process.execPath, [BORGSTORE_CLI, url, "get", "data/ours"], { NODE_EXTRA_CA_CERTS: "" });
      expect(untrusted.status).not.toBe(0);
    }, 30_000);

    it.skipIf(!peer)("serves the unmodified Python client with the CA from REQUESTS_CA_BUNDLE", async () => {
      const code = `
import sys
from borgstore.backends.rest import REST
client = REST(sys.argv[1], "testuser", "testpass")
client.open()
client.store("data/python", b"p" * 5000)
assert client.load("data/python") == b"p" * 5000
print(sorted(i.name for i in client.list("data")))
client.close()
`;
      const result = await runReferencePython(peer as NonNullable<typeof peer>, code, {
        args: [`https://localhost:${server.port}/`],
        env: { REQUESTS_CA_BUNDLE: ca },
        timeoutMs: 60_000,
      });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout.toString()).toContain("'python'");
    }, 60_000);

    it("serves a request that asks for an Upgrade, and the requests pipelined behind it, over TLS too", async () => {
      const connection = await TlsConnection.open(server.port, ca);
      const list = `GET / HTTP/1.1\r\nHost: localhost\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\n`;
      // In one write: Node's parser would drop what follows the Upgrade request in its packet.
      connection.socket.write(`${list}Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n${list}\r\n`);
      expect(await connection.answer()).toBe(200);
      expect(await connection.answer()).toBe(200);
      connection.socket.destroy();
    });

    it("takes a new certificate on SIGHUP without dropping open connections, and keeps it when the next one is broken", async () => {
      const before = await TlsConnection.open(server.port, ca);
      expect(await before.list()).toBe(200);
      expect(before.serial).toBe("1001");

      const second = issue(dir.path, "second", 0x2002);
      copyFileSync(second.cert, certFile);
      copyFileSync(second.key, keyFile);
      server.child.kill("SIGHUP");
      await waitForLog(server, /SIGHUP: reloaded the TLS certificate/);
      // The connection made before goes on, with its certificate.
      expect(await before.list()).toBe(200);
      const after = await TlsConnection.open(server.port, ca);
      expect(after.serial).toBe("2002");
      expect(await after.list()).toBe(200);

      writeFileSync(certFile, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
      server.child.kill("SIGHUP");
      await waitForLog(server, /SIGHUP: kept the TLS certificate in use: .*not usable/);
      const kept = await TlsConnection.open(server.port, ca);
      expect(kept.serial).toBe("2002");
      expect(await kept.list()).toBe(200);
      expect(await before.list()).toBe(200);
      for (const c of [before, after, kept]) c.socket.destroy();
    }, 30_000);
  });
});
