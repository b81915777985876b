// What metrics and the access log cost (issue 16): 1 KiB stores and loads with 16 in flight
// against two servers in the same run, one with `--metrics-listen` and `--log-format json` at
// level info (every request counted and logged to a file, /metrics scraped every second as
// Prometheus would), one with neither (level warning). Phases alternate between the two, three
// rounds each; the figures are the medians. Throughput on this shared 2-core machine swings by
// ±25% between two identical servers (an A/A run), so the target is on the server's own CPU time
// per request (utime + stime from /proc), which other processes barely move: observability may
// cost at most 10% more of it. BENCH_OBS_AA=1 runs both servers unobserved: the spread it shows is
// the noise of the run.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Store } from "@borgstore/core";
import { KiB, freePort, waitAccepting } from "../../../scripts/bench/lib.mjs";

const SERVER_CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
// backend-rest is not a dependency of the server package: load its build by path.
const { RestBackend } = await import(new URL("../../backend-rest/dist/index.js", import.meta.url).href);

const IN_FLIGHT = 16;
const OBJECTS = 1000;
const ROUNDS = 3;
const PHASE_MS = Number(process.env.BENCH_OBSERVABILITY_PHASE_MS ?? 3000);
const CONFIG = { "small/": { levels: [0] } };
/** USER_HZ: Linux reports process times in 1/100 s. */
const CLOCK_TICKS = 100;

async function startServer(work, name, observed) {
  const port = await freePort();
  const metricsPort = observed ? await freePort() : undefined;
  const log = join(work, `${name}.log`);
  const logFd = openSync(log, "a");
  const args = ["--host", "127.0.0.1", "--port", String(port), "--backend", `FILE:${join(work, name)}`, "--create"];
  if (observed) args.push("--log-level", "info", "--log-format", "json", "--metrics-listen", `127.0.0.1:${metricsPort}`);
  else args.push("--log-level", "warning");
  const child = spawn(process.execPath, [SERVER_CLI, ...args], { stdio: ["ignore", "ignore", logFd] });
  closeSync(logFd);
  await waitAccepting(port, "borgstore-server-rest");
  return {
    url: `http://127.0.0.1:${port}/`,
    metricsUrl: observed ? `http://127.0.0.1:${metricsPort}/metrics` : undefined,
    logBytes: () => statSync(log).size,
    /** CPU seconds the server process has used (user + system). */
    cpuSeconds: () => {
      const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1].split(" ");
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Operations per second of `op` over PHASE_MS with IN_FLIGHT outstanding, and the server's CPU
 * microseconds per operation; /metrics scraped every second when the server has it.
 */
async function measure(op, server) {
  const { metricsUrl } = server;
  const cpuBefore = server.cpuSeconds();
  let done = 0;
  let scrapes = 0;
  const end = performance.now() + PHASE_MS;
  const scraper = metricsUrl
    ? setInterval(() => fetch(metricsUrl).then((r) => r.text()).then(() => scrapes++), 1000)
    : undefined;
  const worker = async (w) => {
    for (let i = w; performance.now() < end; i += IN_FLIGHT) {
      await op(i % OBJECTS);
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
  clearInterval(scraper);
  if (metricsUrl && scrapes === 0) throw new Error("no /metrics scrape succeeded during the phase");
  const seconds = (performance.now() - start) / 1000;
  return { rate: done / seconds, cpuPerOp: ((server.cpuSeconds() - cpuBefore) * 1e6) / done };
}

/**
 * What the hook itself costs per finished request, in this process: counting a 1 KiB load in the
 * metrics and writing its JSON access line (to a stream that discards it). Steadier than the
 * servers' figures on a busy machine.
 */
async function hookCost() {
  const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;
  const { ServerMetrics } = await import(dist("observability/metrics.js"));
  const { RequestObserver } = await import(dist("observability/request-observer.js"));
  const { Logger } = await import(dist("logger.js"));
  const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
  const observer = new RequestObserver({ logger: new Logger("info", discard, "json"), metrics: new ServerMetrics() });
  const req = { url: `/data/00/00/${"0".repeat(64)}`, method: "GET", headers: {}, complete: true, httpVersion: "1.1", socket: {} };
  const res = { headersSent: true, statusCode: 200, writableFinished: true, getHeader: () => KiB };
  const run = async (count) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      observer.finished("127.0.0.1", req, res, performance.now());
      // The logger writes once per event-loop turn: let it.
      if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
    }
    return ((performance.now() - start) * 1000) / count;
  };
  await run(20_000);
  return median([await run(100_000), await run(100_000), await run(100_000)]);
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export default async function bench(ctx) {
  const work = mkdtempSync(join(tmpdir(), "borgstore-bench-observability-"));
  const servers = { off: await startServer(work, "off", false), on: await startServer(work, "on", process.env.BENCH_OBS_AA !== "1") };
  const stores = {};
  try {
    const value = randomBytes(KiB);
    const names = Array.from({ length: OBJECTS }, (_, i) => `small/${String(i).padStart(64, "0")}`);
    for (const [mode, server] of Object.entries(servers)) {
      stores[mode] = new Store({ backend: new RestBackend({ url: server.url, concurrency: IN_FLIGHT, env: {} }), config: CONFIG, latency: 0, bandwidth: 0 });
      await stores[mode].open();
      for (const name of names) await stores[mode].store(name, value); // also the warm-up
    }
    const figures = { store: { on: [], off: [] }, load: { on: [], off: [] } };
    const load1 = loadavg()[0];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating order: neither mode always runs on a machine the other just warmed.
      const order = round % 2 === 0 ? ["off", "on"] : ["on", "off"];
      for (const mode of order) {
        const store = stores[mode];
        figures.store[mode].push(await measure((i) => store.store(names[i], value), servers[mode]));
        figures.load[mode].push(await measure((i) => store.load(names[i]), servers[mode]));
      }
    }
    const load2 = loadavg()[0];
    if (process.env.BENCH_OBS_AA !== "1" && servers.on.logBytes() === 0) throw new Error("the observed server wrote no access log");
    ctx.report({ case: "the hook per finished request (metrics + JSON access line), in-process", value: await hookCost(), unit: "µs" });
    const label = `neither (load average ${load1.toFixed(2)} → ${load2.toFixed(2)})`;
    for (const op of ["store", "load"]) {
      const rate = (mode) => median(figures[op][mode].map((f) => f.rate));
      const cpu = (mode) => median(figures[op][mode].map((f) => f.cpuPerOp));
      const what = `1 KiB ${op} ×${IN_FLIGHT} with metrics (scraped 1/s) and the JSON access log`;
      ctx.report({ case: `${what}: throughput`, value: rate("on"), unit: "op/s", reference: rate("off"), referenceLabel: label });
      ctx.report({
        case: `${what}: server CPU per request`,
        value: cpu("on"),
        unit: "µs",
        reference: cpu("off"),
        referenceLabel: label,
        target: `≤ 1.1× without: ${cpu("on") <= 1.1 * cpu("off") ? "met" : "MISSED"}`,
      });
    }
  } finally {
    for (const store of Object.values(stores)) await store.close();
    for (const server of Object.values(servers)) await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
