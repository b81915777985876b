import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type SftpBackend, type SftpBackendOptions, sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { ErrorCodes } from "@borgstore/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { env, freshPath, knownHostsForPort, localServer, testOptions, urlAtPort } from "./server.js";

const scratch = mkdtempSync(join(tmpdir(), "borgstore-sftp-options-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * A TCP relay to the sshd that counts the connections made through it and can freeze the ones
 * already open: their bytes are dropped both ways, like a link gone silent, while new connections
 * pass normally.
 */
class CountingRelay {
  accepted = 0;
  readonly #open = new Set<Socket>();
  readonly #frozen = new WeakSet<Socket>();
  readonly #server: Server;
  port = 0;

  constructor() {
    this.#server = createServer((client) => {
      this.accepted++;
      const upstream = connect(env.port, env.host);
      this.#open.add(client);
      client.on("data", (d: Buffer) => this.#frozen.has(client) || upstream.write(d));
      upstream.on("data", (d: Buffer) => this.#frozen.has(client) || client.write(d));
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.#open.delete(client);
      };
      for (const s of [client, upstream]) {
        s.on("close", end);
        s.on("error", end);
      }
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return this;
  }

  /** Connections through the relay that are still open. */
  get open(): number {
    return this.#open.size;
  }

  freezeOpenConnections(): void {
    for (const client of this.#open) this.#frozen.add(client);
  }

  async close(): Promise<void> {
    for (const client of this.#open) client.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const relays: CountingRelay[] = [];
const backends: SftpBackend[] = [];
afterEach(async () => {
  for (const b of backends.splice(0)) {
    if (b.opened) await b.close().catch(() => {});
    await b.destroy().catch(() => {});
  }
  for (const r of relays.splice(0)) await r.close();
});

async function throughRelay(extra: SftpBackendOptions) {
  const relay = await new CountingRelay().start();
  relays.push(relay);
  const backend = sftpBackendFromUrl(
    urlAtPort(relay.port, freshPath("options")),
    testOptions({ knownHostsFiles: [knownHostsForPort(relay.port, scratch)], ...extra }),
  ) as SftpBackend;
  backends.push(backend);
  return { relay, backend };
}

describe.skipIf(!localServer)("SftpBackend options, against the real sshd", () => {
  it("passphrase unlocks an encrypted private key; without it the key is skipped and authentication fails", async () => {
    const encrypted = join(scratch, "encrypted_key");
    copyFileSync(env.key, encrypted);
    // The server's own client key, re-encrypted (few bcrypt rounds: this is about the option, not the KDF).
    execFileSync("ssh-keygen", ["-q", "-p", "-f", encrypted, "-P", "", "-N", "borgstore secret", "-a", "2"]);
    const path = freshPath("passphrase");
    const options = { idleConnectionTimeout: 0, privateKeys: [encrypted] };
    const locked = sftpBackendFromUrl(urlAtPort(env.port, path), testOptions(options)) as SftpBackend;
    await expect(locked.create()).rejects.toMatchObject({ code: ErrorCodes.PERMISSION_DENIED });
    const unlocked = sftpBackendFromUrl(urlAtPort(env.port, path), testOptions({ ...options, passphrase: "borgstore secret" })) as SftpBackend;
    backends.push(unlocked);
    await unlocked.create();
    await unlocked.open();
    await unlocked.store("k", new Uint8Array([1]));
    expect(Array.from(await unlocked.load("k"))).toEqual([1]);
  });

  it("keepaliveInterval: a connection gone silent is dropped after three unanswered probes, and the operation reconnects", async () => {
    const { relay, backend } = await throughRelay({ keepaliveInterval: 250, operationTimeout: 60_000, idleConnectionTimeout: 0 });
    await backend.create();
    await backend.open();
    await backend.store("k", new Uint8Array([2]));
    const before = relay.accepted;
    relay.freezeOpenConnections();
    const started = Date.now();
    expect(Array.from(await backend.load("k"))).toEqual([2]);
    // operationTimeout (60 s) never came into it: the keepalive noticed the silence.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(relay.accepted).toBeGreaterThanOrEqual(before + 1);
  }, 20_000);

  it("operationTimeout: a request without an answer drops the connection after operationTimeout, and the operation reconnects", async () => {
    const { relay, backend } = await throughRelay({ keepaliveInterval: 60_000, operationTimeout: 600, idleConnectionTimeout: 0 });
    await backend.create();
    await backend.open();
    await backend.store("k", new Uint8Array([3]));
    const before = relay.accepted;
    relay.freezeOpenConnections();
    const started = Date.now();
    expect(Array.from(await backend.load("k"))).toEqual([3]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(relay.accepted).toBeGreaterThanOrEqual(before + 1);
  }, 20_000);

  it("connection reuse: create, open, close and destroy share one ssh connection, which closes after idleConnectionTimeout", async () => {
    const { relay, backend } = await throughRelay({ idleConnectionTimeout: 300 });
    await backend.create();
    await backend.open();
    await backend.store("k", new Uint8Array([4]));
    await backend.close();
    await backend.destroy();
    expect(relay.accepted).toBe(1);
    expect(relay.open).toBe(1);
    const until = Date.now() + 3000;
    while (relay.open > 0 && Date.now() < until) await sleep(50);
    expect(relay.open).toBe(0);
  });

  it("idleConnectionTimeout: 0 closes the connection at once: every step connects anew", async () => {
    const { relay, backend } = await throughRelay({ idleConnectionTimeout: 0 });
    await backend.create();
    await backend.open();
    await backend.close();
    await backend.destroy();
    expect(relay.accepted).toBe(3);
  });
});
