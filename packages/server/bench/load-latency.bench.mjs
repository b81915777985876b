// What one client's traffic costs the others on our REST server (issue 13):
//   - mixed workload: 1 KiB loads with 16 in flight, alone and while another client (its own
//     process and connections) stores 4 MiB values continuously through the same server; p50 and
//     p99 load latency, the busy figures against the idle ones. A synchronous disk call on the
//     server's event loop shows up here. Target: busy p99 < 3× idle p99.
//   - memory per connection: the server's RSS growth with 1,000 idle keep-alive connections, each
//     having made one request.
// The server is a child process over posixfs in a temp folder, as in production.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Store } from "@borgstore/core";
import { KiB, MiB, startOurServer } from "../../../scripts/bench/lib.mjs";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const SERVER_CLI = here("../dist/cli.js");
const REST_BACKEND = new URL("../../backend-rest/dist/index.js", import.meta.url).href;
// backend-rest is not a dependency of the server package: load its build by path.
const { RestBackend } = await import(REST_BACKEND);

const SMALL_OBJECTS = 2000;
const IN_FLIGHT = 16;
/** How long each latency phase runs. */
const PHASE_MS = Number(process.env.BENCH_LATENCY_PHASE_MS ?? 4000);
const IDLE_CONNECTIONS = 1000;
const CONFIG = { "small/": { levels: [0] }, "big/": { levels: [0] } };

async function startServer(storeDir) {
  // Room for the idle connections, all from one loopback address.
  const args = ["--create", "--max-connections", String(IDLE_CONNECTIONS + 64), "--max-connections-per-address", "0"];
  const server = await startOurServer(SERVER_CLI, storeDir, { args });
  return { ...server, rssKiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1]) };
}

/** A child process storing 4 MiB values through the server one after another until killed. */
function startBigWriter(url) {
  const code = `
    const { RestBackend } = await import(${JSON.stringify(REST_BACKEND)});
    const backend = new RestBackend({ url: ${JSON.stringify(url)}, env: {} });
    await backend.open();
    const value = new Uint8Array(${4 * MiB}).fill(7);
    process.send("ready");
    for (let i = 0; ; i = (i + 1) % 8) await backend.store("big/" + String(i).padStart(64, "0"), value);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const ready = new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", (status) => reject(new Error(`the 4 MiB writer exited with ${status}`)));
  });
  return {
    ready,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Latencies (ms) of 1 KiB loads with IN_FLIGHT outstanding, for PHASE_MS. */
async function loadLatencies(store, names) {
  const latencies = [];
  const end = performance.now() + PHASE_MS;
  let next = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const name = names[next++ % names.length];
      const start = performance.now();
      await store.load(name);
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return latencies.sort((a, b) => a - b);
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

async function measureMixed(ctx, server) {
  const store = new Store({ backend: new RestBackend({ url: server.url, concurrency: IN_FLIGHT, env: {} }), config: CONFIG, latency: 0, bandwidth: 0 });
  await store.open();
  try {
    const value = randomBytes(KiB);
    const names = Array.from({ length: SMALL_OBJECTS }, (_, i) => `small/${String(i).padStart(64, "0")}`);
    for (const name of names) await store.store(name, value);
    await loadLatencies(store, names.slice(0, 200)); // warm-up
    const idle = await loadLatencies(store, names);
    const writer = startBigWriter(server.url);
    let busy;
    try {
      await writer.ready;
      busy = await loadLatencies(store, names);
    } finally {
      await writer.stop();
    }
    for (const p of [50, 99]) {
      const alone = percentile(idle, p);
      const mixed = percentile(busy, p);
      ctx.report({
        case: `1 KiB load ×${IN_FLIGHT} p${p} latency while another client stores 4 MiB values`,
        value: mixed,
        unit: "ms",
        reference: alone,
        referenceLabel: `the same loads alone (${Math.round(idle.length / (PHASE_MS / 1000))}/s alone, ${Math.round(busy.length / (PHASE_MS / 1000))}/s mixed)`,
        target: p === 99 ? `< 3× alone: ${mixed < 3 * alone ? "met" : "MISSED"}` : undefined,
      });
    }
  } finally {
    await store.close();
  }
}

/** Opens `count` keep-alive connections, each making one request and then staying open, idle. */
async function openIdleConnections(port, count) {
  const sockets = [];
  for (let i = 0; i < count; i++) {
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    await new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.once("data", resolve);
      socket.write(`GET /small/${"0".repeat(64)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/vnd.x.borgstore.rest.v1\r\nConnection: keep-alive\r\n\r\n`);
    });
  }
  return sockets;
}

async function measureConnections(ctx, server) {
  const settle = () => new Promise((resolve) => setTimeout(resolve, 1000));
  await settle();
  const before = server.rssKiB();
  const sockets = await openIdleConnections(server.port, IDLE_CONNECTIONS);
  try {
    await settle();
    const after = server.rssKiB();
    const open = sockets.filter((s) => !s.destroyed && s.readyState === "open").length;
    if (open !== IDLE_CONNECTIONS) throw new Error(`only ${open} of ${IDLE_CONNECTIONS} idle connections stayed open`);
    ctx.report({
      case: `server RSS growth per idle keep-alive connection (${IDLE_CONNECTIONS.toLocaleString("en")} open)`,
      value: (after - before) / IDLE_CONNECTIONS,
      unit: "KiB",
    });
    ctx.report({ case: `server RSS with ${IDLE_CONNECTIONS.toLocaleString("en")} idle connections`, value: after / 1024, unit: "MiB" });
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

export default async function bench(ctx) {
  const work = mkdtempSync(join(tmpdir(), "borgstore-bench-latency-"));
  const server = await startServer(join(work, "store"));
  try {
    await measureMixed(ctx, server);
    await measureConnections(ctx, server);
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
