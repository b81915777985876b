import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { type Socket, connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { HostingConfigError, parseHostingConfig } from "../src/hosting/config.js";
import { fairShareOf } from "../src/hosting/fair-share.js";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { ACCEPT, tempDir } from "./helpers.js";
import { listenHosting, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-hosting-fair-");
afterAll(() => dir.remove());

const FLOOD = fileURLToPath(new URL("./fair-share-flood.mjs", import.meta.url));
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function startInProcess(name: string, extra: string): Promise<{ hosting: HostingServer; port: number; folder: string }> {
  const folder = join(dir.path, name);
  mkdirSync(folder);
  writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", bob: "bpw" });
  const { hosting, port } = await listenHosting(writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, extra));
  for (const login of ["alice:apw", "bob:bpw"]) {
    const user = login.split(":")[0];
    expect((await rawRequest(port, "POST", `/${user}/r/?cmd=create`, { login })).status).toBe(200);
  }
  return { hosting, port, folder };
}

/** One keep-alive connection for a user's sequential requests, as a backup client has. */
function client(port: number, login: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const auth = `Basic ${Buffer.from(login).toString("base64")}`;
  const send = (method: string, path: string, body?: Uint8Array) =>
    new Promise<{ status: number; body: Buffer; ms: number }>((resolve, reject) => {
      const started = performance.now();
      const headers: Record<string, string | number> = { Accept: ACCEPT, Authorization: auth };
      if (body) headers["Content-Length"] = body.byteLength;
      const req = httpRequest({ port, host: "127.0.0.1", method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - started }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

/** A request whose client reads nothing after the first bytes of the answer: what status that began with, if any yet. */
function stalled(port: number, login: string, head: string): { socket: Socket; status(): number } {
  const socket = connect(port, "127.0.0.1");
  let first = "";
  socket.on("error", () => {});
  socket.once("data", (chunk: Buffer) => {
    first = chunk.toString("latin1", 0, 12);
    socket.pause();
  });
  socket.write(head.replace("AUTH", `Basic ${Buffer.from(login).toString("base64")}`));
  return { socket, status: () => Number(/^HTTP\/1\.1 (\d{3})/.exec(first)?.[1] ?? 0) };
}

const getHead = (path: string) => `GET ${path} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: AUTH\r\n\r\n`;

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] as number;
}

const until = async (what: string, ok: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("hosting fair share: the configuration", () => {
  const base = 'htpasswd = "h"\n[listen]\nport = 0\n[repositories]\nbackend = "file:///srv/b/{user}/{repo}"\n';
  const refused = (text: string) => {
    try {
      parseHostingConfig(text, "/etc/b");
    } catch (err) {
      if (err instanceof HostingConfigError) return err.message;
      throw err;
    }
    return "accepted";
  };

  it("defaults to 16 requests in flight and 256 queued per user without a bandwidth limit; [users.NAME] overrides [fair_share] key by key", () => {
    expect(fairShareOf(parseHostingConfig(base, "/etc/b"), "anyone")).toEqual({ maxInFlight: 16, maxQueued: 256, bandwidth: undefined });
    const config = parseHostingConfig(`${base}[fair_share]\nmax_in_flight = 4\nbandwidth = "10M"\n[users.alice]\nmax_queued = 2\nbandwidth = "1M"\n`, "/etc/b");
    expect(fairShareOf(config, "alice")).toEqual({ maxInFlight: 4, maxQueued: 2, bandwidth: 1024 ** 2 });
    expect(fairShareOf(config, "bob")).toEqual({ maxInFlight: 4, maxQueued: 256, bandwidth: 10 * 1024 ** 2 });
  });

  it("refuses a zero in-flight limit, a bandwidth below 64k (the slow-client guard would cut the user's own connections) and unknown keys, naming them", () => {
    expect(refused(`${base}[fair_share]\nmax_in_flight = 0\n`)).toMatch(/fair_share\.max_in_flight/);
    expect(refused(`${base}[users.bob]\nbandwidth = "10k"\n`)).toMatch(/users\.bob\.bandwidth: at least 64k/);
    expect(refused(`${base}[fair_share]\nmax_inflight = 3\n`)).toMatch(/fair_share: unknown key max_inflight/);
  });
});

describe("hosting fair share: requests in flight", { timeout: 30_000 }, () => {
  it("never runs more than max_in_flight of a user's requests: clients that never read hold their slots, the next max_queued wait, the rest get 503 with Retry-After, and another user goes on at once", async () => {
    const { hosting, port } = await startInProcess("exact", "[fair_share]\nmax_in_flight = 3\nmax_queued = 5\n[users.bob]\nmax_in_flight = 16");
    const alice = client(port, "alice:apw");
    const bob = client(port, "bob:bpw");
    try {
      const big = randomBytes(24 * 1024 * 1024);
      expect((await alice.send("POST", "/alice/r/data/big", big)).status).toBe(200);
      expect((await bob.send("POST", "/bob/r/data/small", randomBytes(1024))).status).toBe(200);
      const hogs = Array.from({ length: 12 }, () => stalled(port, "alice:apw", getHead("/alice/r/data/big")));
      // 3 answer (and stall on their unread bodies), 5 wait, 4 are refused at once.
      await until("the 503s", () => hogs.filter((h) => h.status() === 503).length === 4);
      await new Promise((r) => setTimeout(r, 300));
      expect(hogs.filter((h) => h.status() === 200)).toHaveLength(3);
      expect(hogs.filter((h) => h.status() === 0)).toHaveLength(5);
      expect(hosting.fairShare.running("alice")).toEqual({ now: 3, peak: 3 });
      for (let i = 0; i < 20; i++) {
        const answer = await bob.send("GET", "/bob/r/data/small");
        expect(answer.status).toBe(200);
        expect(answer.ms).toBeLessThan(1000);
      }
      // Cut the three that run: three waiting ones take their slots, never more.
      for (const h of hogs.filter((h) => h.status() === 200)) h.socket.destroy();
      await until("the next three", () => hogs.filter((h) => h.status() === 200 && !h.socket.destroyed).length === 3);
      expect(hosting.fairShare.running("alice").peak).toBe(3);
      for (const h of hogs) h.socket.destroy();
      await until("no request of alice's running", () => hosting.fairShare.running("alice").now === 0);
      expect((await alice.send("GET", "/alice/r/data/big")).body.equals(big)).toBe(true);
    } finally {
      alice.close();
      bob.close();
      await hosting.shutdown(1000);
    }
  });

  it("race: 80 requests of one user at once, many cut at random moments, never pass the limit, leak no slot, and every acknowledged store is whole", async () => {
    const { hosting, port } = await startInProcess("race", "[fair_share]\nmax_in_flight = 3\nmax_queued = 6");
    const values = new Map<string, string>();
    const acknowledged: string[] = [];
    const statuses: number[] = [];
    try {
      // Alice's password is checked (bcrypt) once here: then the 80 reach their turn together.
      expect((await rawRequest(port, "GET", "/alice/r/data/none", { login: "alice:apw" })).status).toBe(404);
      await Promise.all(
        Array.from({ length: 80 }, async (_, i) => {
          const name = `data/v${i % 20}`;
          const body = randomBytes(1024 + i * 512);
          const cut = i % 3 === 0;
          const answer = await new Promise<number>((resolve) => {
            const socket = connect(port, "127.0.0.1");
            let text = "";
            socket.setEncoding("latin1");
            socket.on("data", (t: string) => {
              text += t;
            });
            socket.on("error", () => {});
            socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
            const auth = Buffer.from("alice:apw").toString("base64");
            const head =
              i % 2 === 0
                ? `POST /alice/r/${name} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: Basic ${auth}\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`
                : `GET /alice/r/${name} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: Basic ${auth}\r\nConnection: close\r\n\r\n`;
            socket.write(head);
            if (i % 2 === 0) {
              // Half the body now, the rest a moment later (or never: cut).
              socket.write(body.subarray(0, body.byteLength >> 1));
              setTimeout(() => (cut ? socket.destroy() : socket.write(body.subarray(body.byteLength >> 1))), (i * 7) % 40);
            } else if (cut) setTimeout(() => socket.destroy(), (i * 13) % 40);
          });
          statuses.push(answer);
          if (i % 2 === 0 && answer === 200) {
            acknowledged.push(name);
            values.set(`${name}#${sha256(body)}`, name);
          }
        }),
      );
      expect(hosting.fairShare.running("alice").peak).toBeLessThanOrEqual(3);
      // 503 for a full queue (how many depends on the timing: the exact count is the test above), 404 for a name not stored yet, 0 for a cut one.
      expect(statuses.filter((s) => ![200, 404, 503, 0].includes(s))).toEqual([]);
      await until("no request of alice's running", () => hosting.fairShare.running("alice").now === 0);
      // Every acknowledged name holds one of the values acknowledged for it, whole.
      const alice = client(port, "alice:apw");
      try {
        for (const name of new Set(acknowledged)) {
          const loaded = await alice.send("GET", `/alice/r/${name}`);
          expect(loaded.status).toBe(200);
          expect(values.get(`${name}#${sha256(loaded.body)}`)).toBe(name);
        }
      } finally {
        alice.close();
      }
      // No slot leaked: a full burst of max_in_flight + max_queued goes through.
      const burst = await Promise.all(Array.from({ length: 9 }, () => rawRequest(port, "GET", "/alice/r/data/v0", { login: "alice:apw" })));
      expect(burst.map((a) => a.status)).toEqual(Array(9).fill(acknowledged.includes("data/v0") ? 200 : 404));
    } finally {
      await hosting.shutdown(1000);
    }
  });
});

describe("hosting fair share: bandwidth", { timeout: 30_000 }, () => {
  it("paces a user's request and response bodies to their bandwidth (each direction its own bucket of one second), while another user's transfers go at full speed", async () => {
    const RATE = 1024 * 1024;
    const { hosting, port } = await startInProcess("bandwidth", `[users.alice]\nbandwidth = ${RATE}`);
    const size = 1.25 * RATE;
    const seed = randomBytes(size);
    try {
      // Values to load, stored by bob (no limit) into alice's repository's folder is not possible:
      // alice stores them first, then her bucket is full again after a second.
      const setup = client(port, "alice:apw");
      for (const n of [0, 1]) expect((await setup.send("POST", `/alice/r/data/load${n}`, seed)).status).toBe(200);
      setup.close();
      await new Promise((r) => setTimeout(r, 1200));
      const started = performance.now();
      const clients = [0, 1, 2, 3].map(() => client(port, "alice:apw"));
      const bob = client(port, "bob:bpw");
      const bobValue = randomBytes(size);
      const [up0, up1, down0, down1, bobTook] = await Promise.all([
        clients[0]?.send("POST", "/alice/r/data/up0", randomBytes(size)),
        clients[1]?.send("POST", "/alice/r/data/up1", randomBytes(size)),
        clients[2]?.send("GET", "/alice/r/data/load0"),
        clients[3]?.send("GET", "/alice/r/data/load1"),
        (async () => {
          const t = performance.now();
          expect((await bob.send("POST", "/bob/r/data/x", bobValue)).status).toBe(200);
          expect((await bob.send("GET", "/bob/r/data/x")).body.equals(bobValue)).toBe(true);
          return performance.now() - t;
        })(),
      ]);
      const seconds = (performance.now() - started) / 1000;
      for (const c of [...clients, bob]) c?.close();
      expect([up0?.status, up1?.status, down0?.status, down1?.status]).toEqual([200, 200, 200, 200]);
      expect(down0?.body.equals(seed)).toBe(true);
      // 2.5 MiB each way through a bucket holding 1 MiB and filling at 1 MiB/s: at least 1.5 s.
      expect(seconds).toBeGreaterThan(1.35);
      expect(seconds).toBeLessThan(8);
      expect(bobTook).toBeLessThan(1000);
    } finally {
      await hosting.shutdown(1000);
    }
  });
});

describe("hosting fair share: a flooding tenant", { timeout: 60_000 }, () => {
  it("keeps another tenant's 1 KiB loads within 10× their idle p99 while one tenant floods (parallel uploads, slow readers, dribbled bodies), and loses no acknowledged store", async () => {
    const folder = join(dir.path, "flood");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", bob: "bpw" });
    const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, '[fair_share]\nmax_in_flight = 8\nmax_queued = 16\n[users.alice]\nbandwidth = "4M"');
    const server = await startHosting(config);
    const bob = client(server.port, "bob:bpw");
    const alice = client(server.port, "alice:apw");
    try {
      for (const user of ["alice", "bob"])
        expect((await rawRequest(server.port, "POST", `/${user}/r/?cmd=create`, { login: `${user}:${user[0]}pw` })).status).toBe(200);
      expect((await alice.send("POST", "/alice/r/big", randomBytes(2 * 1024 * 1024))).status).toBe(200);
      expect((await bob.send("POST", "/bob/r/data/small", randomBytes(1024))).status).toBe(200);
      const loads = async (ms: number) => {
        const samples: number[] = [];
        const end = performance.now() + ms;
        while (performance.now() < end) {
          const answer = await bob.send("GET", "/bob/r/data/small");
          expect(answer.status).toBe(200);
          samples.push(answer.ms);
        }
        return samples;
      };
      await loads(300); // warm-up
      const idleBefore = p99(await loads(1000));
      const flooding = promisify(execFile)(process.execPath, [FLOOD, String(server.port), "alice:apw", "/alice/r", "3000", "24", "2", "2", String(1024 * 1024)], {
        maxBuffer: 64 * 1024 * 1024,
      });
      await new Promise((r) => setTimeout(r, 300));
      const busy = p99(await loads(2400));
      const { acked, statuses } = JSON.parse((await flooding).stdout) as { acked: [string, string][]; statuses: Record<string, number> };
      // Idle again after the flood: the machine's own load (other work on a shared CI host) may have changed meanwhile.
      const idle = Math.max(idleBefore, p99(await loads(1000)));
      console.log(`bob's 1 KiB loads: idle p99 ${idle.toFixed(2)} ms, while alice floods ${busy.toFixed(2)} ms; alice's stores: ${JSON.stringify(statuses)}`);
      // A starvation bound, not a fairness measure: on a loaded 2-core host the flood's own CPU alone
      // triples bob's p99 (measured without limits: 3-4×); the exact share is checked by the tests above.
      expect(busy).toBeLessThanOrEqual(Math.max(10 * idle, 50));
      expect(acked.length).toBeGreaterThan(10);
      // Read from the repository's folder (posixfs keeps "data/x" as data/x): through the server they would take alice's paced bandwidth.
      for (const [name, hash] of acked) expect(sha256(readFileSync(join(folder, "repos", "alice", "r", name)))).toBe(hash);
    } finally {
      bob.close();
      alice.close();
      expect(await server.stop()).toBe(0);
    }
  });
});
