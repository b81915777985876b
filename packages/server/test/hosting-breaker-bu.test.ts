import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AloneGate } from "../src/hosting/alone-gate.js";
import { openHostingServer } from "../src/hosting/hosting-server.js";
import { Logger } from "../src/logger.js";
import { ACCEPT } from "./helpers.js";
import { type HostingProcess, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

// Defects found by attacking /_usage and /_status from outside (breaker BU): a real
// `borgstore-server-rest --config` process, logins made by Debian's `htpasswd -B`.

interface Usage {
  user: string;
  bytes: number;
  objects: number;
  repositories: Array<{ name: string; bytes: number; objects: number; lastWrite: string | null }>;
}

/** Bytes and objects under `dir` as the disk has them. */
function onDisk(dir: string): { bytes: number; objects: number } {
  let bytes = 0;
  let objects = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    // The store's own files (uploads.hid/ holds a writing session's lock file) are no objects.
    if (!entry.isFile() || join(entry.parentPath, entry.name).includes(".hid")) continue;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
    objects++;
  }
  return { bytes, objects };
}

describe("hosting usage under attack", () => {
  let dir: string;
  let server: HostingProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "bu-hosting-"));
    writeHtpasswd(join(dir, "htpasswd"), { alice: "pw-alice", bob: "pw-bob" });
    server = await startHosting(writeHostingConfig(dir, `file://${dir}/repos/{user}/{repo}`, '[users.alice]\nquota = "100"\n'));
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const alice = "alice:pw-alice";
  const usage = async (login: string): Promise<Usage> => {
    const answer = await rawRequest(server.port, "GET", "/_usage", { login });
    expect(answer.status).toBe(200);
    return JSON.parse(answer.body) as Usage;
  };

  it("keeps the figures when an object is moved onto its own name (no drift below zero, no quota escape)", async () => {
    expect((await rawRequest(server.port, "POST", "/alice/self/?cmd=create", { login: alice })).status).toBe(200);
    const value = Buffer.alloc(60, 7);
    expect((await rawRequest(server.port, "POST", "/alice/self/data/x", { login: alice, body: value })).status).toBe(200);
    for (let i = 0; i < 3; i++)
      expect((await rawRequest(server.port, "POST", "/alice/self/?cmd=move&current=data/x&new=data/x", { login: alice })).status).toBe(200);
    const repo = (await usage(alice)).repositories.find((r) => r.name === "self");
    expect(repo).toMatchObject(onDisk(join(dir, "repos/alice/self/data")));
    expect(repo).toMatchObject({ bytes: 60, objects: 1 });
    // The user's quota (100) still counts the 60 bytes: another 60 do not fit.
    expect((await rawRequest(server.port, "POST", "/alice/self/data/y", { login: alice, body: value })).status).toBe(507);
  });

  it("no longer lists a destroyed repository, neither at once nor after a clean restart", async () => {
    expect((await rawRequest(server.port, "POST", "/alice/gone/?cmd=create", { login: alice })).status).toBe(200);
    expect((await rawRequest(server.port, "POST", "/alice/gone/data/x", { login: alice, body: Buffer.from("abc") })).status).toBe(200);
    expect((await usage(alice)).repositories.map((r) => r.name)).toContain("gone");
    expect((await rawRequest(server.port, "DELETE", "/alice/gone/?cmd=destroy", { login: alice })).status).toBe(200);
    expect((await usage(alice)).repositories.map((r) => r.name)).not.toContain("gone");
    expect((await rawRequest(server.port, "GET", "/_status", { login: alice })).body).not.toContain("/alice/gone/");
    expect(await server.stop()).toBe(0);
    server = await startHosting(join(dir, "hosting.toml"));
    expect((await usage(alice)).repositories.map((r) => r.name)).not.toContain("gone");
    // Made again, it starts afresh: no last write from before.
    expect((await rawRequest(server.port, "POST", "/alice/gone/?cmd=create", { login: alice })).status).toBe(200);
    expect((await usage(alice)).repositories.find((r) => r.name === "gone")).toMatchObject({ bytes: 0, objects: 0, lastWrite: null });
  });

  it("counts right when a directory is moved while an object in it is being overwritten (no undercount to slip past the quota)", async () => {
    const bob = "bob:pw-bob";
    expect((await rawRequest(server.port, "POST", "/bob/dirs/?cmd=create", { login: bob })).status).toBe(200);
    expect((await rawRequest(server.port, "POST", "/bob/dirs/d0/x", { login: bob, body: Buffer.alloc(100, 1) })).status).toBe(200);
    // Larger than the server holds whole (16 MiB): it streams, in its name's turn, while it arrives.
    const upload = slowUpload(server.port, "/bob/dirs/d0/x", bob, Buffer.alloc(16 * 1024 * 1024 + 2, 2));
    // Its head and half its body are in: the store has looked at the size it replaces.
    await upload.halfSent;
    const moved = rawRequest(server.port, "POST", "/bob/dirs/?cmd=move&current=d0&new=k", { login: bob });
    await new Promise((resolve) => setTimeout(resolve, 300));
    upload.finish();
    expect(await upload.status).toBe(200);
    expect((await moved).status).toBe(200);
    const repo = (await usage(bob)).repositories.find((r) => r.name === "dirs");
    expect(repo).toMatchObject(onDisk(join(dir, "repos/bob/dirs")));
  });
});


describe("hosting usage of repositories closed idle and opened again", () => {
  it("lists an empty repository the whole time it is being opened again (it vanished while its record was written)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bu-idle-"));
    writeHtpasswd(join(dir, "htpasswd"), { alice: "pw-alice" });
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    const server = await openHostingServer(writeHostingConfig(dir, `file://${dir}/repos/{user}/{repo}`), new Logger("error", quiet), { idleMs: 10 });
    try {
      const { port } = await server.listen();
      const alice = "alice:pw-alice";
      expect((await rawRequest(port, "POST", "/alice/empty/?cmd=create", { login: alice })).status).toBe(200);
      let polling = true;
      // Closed after 10 ms idle, opened again by the next request: over and over.
      const reopening = (async () => {
        while (polling) {
          await rawRequest(port, "POST", "/alice/empty/?cmd=quota", { login: alice });
          await new Promise((resolve) => setTimeout(resolve, 15));
        }
      })();
      const seen: string[] = [];
      for (let i = 0; i < 150; i++) seen.push(JSON.stringify((JSON.parse((await rawRequest(port, "GET", "/_usage", { login: alice })).body) as Usage).repositories.map((r) => r.name)));
      polling = false;
      await reopening;
      expect(new Set(seen)).toEqual(new Set(['["empty"]']));
    } finally {
      await server.shutdown(1000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});


describe("AloneGate (a directory's move in a repository)", () => {
  it("runs a task alone after those in progress, and gives way with busy() when they outlast its wait limit", async () => {
    const gate = new AloneGate();
    let finishSlow = () => {};
    const slow = gate.together(() => new Promise<void>((resolve) => (finishSlow = resolve)));
    const busy = new Error("busy");
    const refused = gate.alone(async () => "moved", 50, () => busy);
    // A newcomer waits behind the move, and goes on once the move gave way.
    const later = gate.together(async () => "stored");
    await expect(refused).rejects.toBe(busy);
    await expect(later).resolves.toBe("stored");
    const order: string[] = [];
    const moved = gate.alone(async () => order.push("moved"), 5000, () => busy);
    const after = gate.together(async () => order.push("stored after"));
    order.push("slow done");
    finishSlow();
    await Promise.all([slow, moved, after]);
    expect(order).toEqual(["slow done", "moved", "stored after"]);
  });
});

/** An upload whose body's second half goes out only on finish(). */
function slowUpload(port: number, target: string, login: string, body: Buffer) {
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  socket.setEncoding("latin1").on("data", (text: string) => {
    answer += text;
  });
  const status = new Promise<number>((resolve) => socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0))));
  const half = body.byteLength >> 1;
  const auth = Buffer.from(login).toString("base64");
  const head = `POST ${target} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: Basic ${auth}\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`;
  const halfSent = new Promise<void>((resolve) => socket.write(Buffer.concat([Buffer.from(head), body.subarray(0, half)]), () => setTimeout(resolve, 300)));
  return { halfSent, status, finish: () => socket.write(body.subarray(half)) };
}
