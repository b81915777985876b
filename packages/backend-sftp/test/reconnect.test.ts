import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SftpBackend, sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { ErrorCodes } from "@borgstore/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { env, freshPath, knownHostsForPort, localServer, testOptions, urlAtPort } from "./server.js";
import { TcpProxy } from "./tcp-proxy.js";

const scratch = mkdtempSync(join(tmpdir(), "borgstore-sftp-reconnect-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.skipIf(!localServer)("sftp reconnect after a lost connection (docs/rest-protocol.md#reconnecting), through a proxy that cuts it", () => {
  let proxy: TcpProxy;
  let backend: SftpBackend;
  let path: string;

  beforeAll(async () => {
    proxy = await TcpProxy.start(env.host, env.port);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  async function openBackend(extra = {}, url?: string): Promise<SftpBackend> {
    path = freshPath("reconnect");
    const b = sftpBackendFromUrl(
      url?.replace("PATH", path) ?? urlAtPort(proxy.port, path),
      testOptions({ knownHostsFiles: [knownHostsForPort(proxy.port, scratch)], idleConnectionTimeout: 0, ...extra }),
    ) as SftpBackend;
    await b.create();
    await b.open();
    backend = b;
    return b;
  }

  afterEach(async () => {
    proxy.refuseConnections(false);
    if (backend?.opened) await backend.close();
    await backend?.destroy().catch(() => {});
  });

  /** Files on the server's disk in the store's root, including temp files list() hides. */
  const filesOnDisk = () => readdirSync(join(env.dataDir, path));

  it.each([
    { how: "on one channel", options: {}, cutAfter: 2 * 1024 * 1024 },
    {
      how: "spread over several channels",
      options: { sftpChannels: 3, spreadBytes: 1024 * 1024, spreadRoundTrip: 0 },
      cutAfter: 3 * 1024 * 1024,
    },
  ])("a store $how cut mid-transfer reconnects, retries and leaves one whole object and no temp file", async ({ options, cutAfter }) => {
    const b = await openBackend(options);
    const value = randomBytes(8 * 1024 * 1024);
    const cutsBefore = proxy.cuts;
    proxy.cutAfterUpstreamBytes(cutAfter);
    await b.store("big", value);
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(Buffer.from(await b.load("big")).equals(value)).toBe(true);
    expect(filesOnDisk()).toEqual(["big"]);
  });

  it("a load cut mid-transfer reconnects and returns the whole value", async () => {
    const b = await openBackend();
    const value = randomBytes(8 * 1024 * 1024);
    await b.store("big", value);
    const cutsBefore = proxy.cuts;
    // The load request itself is small: cut while the answer streams back.
    setTimeout(() => proxy.cutAll(), 0);
    const loaded = await b.load("big");
    expect(Buffer.from(loaded).equals(value)).toBe(true);
    expect(proxy.cuts).toBe(cutsBefore + 1);
  });

  it("a load whose answer breaks off in the middle of a READ's data reconnects at once and returns the whole value", async () => {
    // Not after operationTimeout: the half-received READ must fail with the connection.
    const b = await openBackend({ operationTimeout: 60_000 });
    const value = randomBytes(8 * 1024 * 1024);
    await b.store("big", value);
    const cutsBefore = proxy.cuts;
    // 100 KiB into the load's answers: inside the DATA answer of its first READ, the one request
    // then outstanding (ssh2 decrypts whole 32 KiB SSH packets only, so the client sees part of it).
    proxy.cutAfterDownstreamBytes(100 * 1024);
    const started = Date.now();
    const loaded = await b.load("big");
    expect(Buffer.from(loaded).equals(value)).toBe(true);
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 30_000);

  it("many operations in flight when the connection dies all complete after one reconnect", async () => {
    const b = await openBackend();
    const values = Array.from({ length: 32 }, (_, i) => randomBytes(64 * 1024 + i));
    const cutsBefore = proxy.cuts;
    proxy.cutAfterUpstreamBytes(512 * 1024);
    await Promise.all(values.map((v, i) => b.store(`item${i}`, v)));
    expect(proxy.cuts).toBe(cutsBefore + 1);
    const loaded = await Promise.all(values.map((_, i) => b.load(`item${i}`)));
    expect(loaded.every((l, i) => Buffer.from(l).equals(values[i] as Buffer))).toBe(true);
    expect(filesOnDisk().sort()).toEqual(values.map((_, i) => `item${i}`).sort());
  });

  it("delete whose answer was lost: ObjectNotFound on the retry counts as done", async () => {
    const b = await openBackend();
    await b.store("gone", new Uint8Array([1]));
    const cutsBefore = proxy.cuts;
    proxy.cutOnNextReply();
    await b.delete("gone");
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect((await b.info("gone")).exists).toBe(false);
  });

  it("move whose answer was lost: ObjectNotFound on the retry counts as done", async () => {
    const b = await openBackend();
    await b.store("from", new Uint8Array([1, 2]));
    const cutsBefore = proxy.cuts;
    proxy.cutOnNextReply();
    await b.move("from", "to");
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect((await b.info("from")).exists).toBe(false);
    expect(Array.from(await b.load("to"))).toEqual([1, 2]);
  });

  it("delete of a missing object still fails with OBJECT_NOT_FOUND on the first attempt", async () => {
    const b = await openBackend();
    await expect(b.delete("never")).rejects.toMatchObject({ code: ErrorCodes.OBJECT_NOT_FOUND });
  });

  it("gives up after the configured attempts with BACKEND_ERROR naming the lost connection", async () => {
    const b = await openBackend({ reconnectAttempts: 3, reconnectDelay: 20 });
    proxy.refuseConnections(true);
    proxy.cutAll();
    const refusedBefore = proxy.refused;
    const err = await b.load("anything").catch((e: unknown) => e);
    expect(proxy.refused - refusedBefore, "one refused connection per attempt").toBe(3);
    expect(err).toMatchObject({ code: ErrorCodes.BACKEND_ERROR });
    expect(String((err as Error).message)).toMatch(/connection was lost and could not be reestablished/);
    proxy.refuseConnections(false);
  });

  it("a backend closed while an operation waits to reconnect does not reconnect: the operation fails with the lost connection (docs/rest-protocol.md#reconnecting: only while open)", async () => {
    const b = await openBackend({ reconnectAttempts: 3, reconnectDelay: 300 });
    proxy.cutAll();
    const pending = b.load("anything").catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await b.close();
    proxy.refuseConnections(true);
    const refusedBefore = proxy.refused;
    const err = await pending;
    expect(proxy.refused - refusedBefore, "connections tried after close").toBe(0);
    expect(err).toMatchObject({ code: ErrorCodes.BACKEND_CONNECTION_ERROR });
    proxy.refuseConnections(false);
  });

  it("create is not retried: an unreachable server fails at once with BACKEND_CONNECTION_ERROR", async () => {
    proxy.refuseConnections(true);
    const refusedBefore = proxy.refused;
    const b = sftpBackendFromUrl(
      urlAtPort(proxy.port, freshPath("unreachable")),
      testOptions({ knownHostsFiles: [knownHostsForPort(proxy.port, scratch)], reconnectDelay: 10_000 }),
    ) as SftpBackend;
    const started = Date.now();
    await expect(b.create()).rejects.toMatchObject({ code: ErrorCodes.BACKEND_CONNECTION_ERROR });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(proxy.refused - refusedBefore).toBe(1);
  });

  it("a storeStream cut mid-transfer fails and leaves no visible object (a stream cannot be replayed)", async () => {
    const b = await openBackend();
    async function* chunks() {
      for (let i = 0; i < 32; i++) yield randomBytes(256 * 1024);
    }
    const cutsBefore = proxy.cuts;
    proxy.cutAfterUpstreamBytes(2 * 1024 * 1024);
    await expect(b.storeStream("streamed", chunks())).rejects.toMatchObject({ code: ErrorCodes.BACKEND_CONNECTION_ERROR });
    expect(proxy.cuts).toBe(cutsBefore + 1);
    // The next operation reconnects; the interrupted upload is invisible.
    expect((await b.info("streamed")).exists).toBe(false);
    expect(await collectNames(b)).toEqual([]);
    // …and its temp file was removed after the reconnect.
    expect(filesOnDisk()).toEqual([]);
  });

  it("killing sshd's session processes mid-load reconnects and returns the whole value", async () => {
    const b = await openBackend();
    const value = randomBytes(16 * 1024 * 1024);
    await b.store("big", value);
    const ports = proxy.upstreamPorts;
    expect(ports.length).toBeGreaterThan(0);
    const pids = sessionPids(ports);
    expect(pids.length).toBeGreaterThan(0);
    const loading = b.load("big");
    setTimeout(() => {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
    }, 5);
    expect(Buffer.from(await loading).equals(value)).toBe(true);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });

  it("a path relative to the login directory still names the same place after a reconnect", async () => {
    const home = execFileSync("getent", ["passwd", env.user], { encoding: "utf8" }).split(":")[5] as string;
    const relative = env.dataDir.slice(home.length + 1);
    const b = await openBackend({}, `sftp://${env.user}@127.0.0.1:${proxy.port}/${relative}/PATH`);
    await b.store("before", new Uint8Array([1]));
    proxy.cutAll();
    await b.store("after", new Uint8Array([2]));
    expect(filesOnDisk().sort()).toEqual(["after", "before"]);
  });

  it("a loadStream cut mid-stream fails with BACKEND_CONNECTION_ERROR instead of resuming from the name opened again", async () => {
    const b = await openBackend({ requestsInFlight: 1 });
    const before = randomBytes(4 * 1024 * 1024);
    await b.store("v", before);
    const chunks: Buffer[] = [];
    const stream = (await b.loadStream("v"))[Symbol.asyncIterator]();
    chunks.push(Buffer.from((await stream.next()).value as Uint8Array));
    // Same size, very likely the same mtime second: nothing a reopen could tell apart.
    const after = randomBytes(before.length);
    await b.store("v", after);
    proxy.cutAll();
    const err = await (async () => {
      for (;;) {
        const { done, value } = await stream.next();
        if (done) return undefined;
        chunks.push(Buffer.from(value));
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.BACKEND_CONNECTION_ERROR });
    const delivered = Buffer.concat(chunks);
    expect(delivered.equals(before.subarray(0, delivered.length))).toBe(true);
    // Loading again (what the caller's retry does) reconnects and returns the whole current value.
    const again: Buffer[] = [];
    for await (const chunk of await b.loadStream("v")) again.push(Buffer.from(chunk));
    expect(Buffer.concat(again).equals(after)).toBe(true);
  });
});

async function collectNames(b: SftpBackend): Promise<string[]> {
  const names: string[] = [];
  for await (const item of b.list("")) names.push(item.name);
  return names;
}

/** sshd processes holding the server side of connections from these local ports. */
function sessionPids(clientPorts: number[]): number[] {
  const out = execFileSync("ss", ["-tnpH", "state", "established"], { encoding: "utf8" });
  const pids = new Set<number>();
  for (const line of out.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const [local, peer] = [fields[2] ?? "", fields[3] ?? ""];
    if (!local.endsWith(`:${env.port}`)) continue;
    if (!clientPorts.some((p) => peer.endsWith(`:${p}`))) continue;
    for (const m of line.matchAll(/pid=(\d+)/g)) pids.add(Number(m[1]));
  }
  return [...pids];
}

/** Running (a killed process may linger as a zombie until sshd reaps it). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}
