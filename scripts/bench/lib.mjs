// Shared measuring helpers for the bench suites (packages/*/bench/*.bench.mjs).
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";

/**
 * Runs `op(i)` `count` times with `inFlight` operations outstanding at once and returns the rate.
 * `bytesPerOp` turns it into MB/s as well.
 */
export async function measure(op, { count, inFlight = 1, bytesPerOp = 0 }) {
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await op(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  const seconds = (performance.now() - start) / 1000;
  return { count, seconds, opsPerSec: count / seconds, mbPerSec: (count * bytesPerOp) / seconds / 1e6 };
}

/** Picks an operation count that keeps a case around `targetSeconds` given a guessed rate. */
export function countFor(size, { small = 2000, large = 40 } = {}) {
  if (size <= 4096) return small;
  if (size <= 65536) return Math.max(large, Math.floor(small / 4));
  return large;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** A TCP port free on 127.0.0.1 right now (for a server started as a child process). */
export async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Resolves once 127.0.0.1:`port` accepts connections; throws after 15 s, naming `what`. */
export async function waitAccepting(port, what) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not start on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Our server (`cli`: a build's dist/cli.js) as a child process on a free loopback port over the
 * posixfs store `storeDir`, logging warnings only; `args`: more of its options, `nodeArgs`: node's
 * own before the script (e.g. --cpu-prof). Resolves once it accepts connections.
 */
export async function startOurServer(cli, storeDir, { args = [], nodeArgs = [] } = {}) {
  const port = await freePort();
  const argv = [...nodeArgs, cli, "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning", "--backend", `FILE:${storeDir}`, ...args];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "ignore", "inherit"] });
  await waitAccepting(port, "borgstore-server-rest");
  return {
    port,
    pid: child.pid,
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A child process that answers one JSON line on stdout per JSON command line on stdin (the Python
 * drivers that time the reference in the same run): `run(cmd)` resolves with the parsed answer.
 */
export function startLineDriver(command, args, { env, what = command } = {}) {
  const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (t) => {
    stderr = (stderr + t).slice(-8192);
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    async run(cmd) {
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
      const { value, done } = await lines.next();
      if (done) throw new Error(`${what} ended: ${stderr}`);
      return JSON.parse(value);
    },
    async stop() {
      child.stdin.end();
      const code = await exited;
      if (code !== 0) throw new Error(`${what} exited with ${code}: ${stderr}`);
    },
  };
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The unmodified Python reference's Store at `url` (any backend URL it knows), driven by
 * reference-store-driver.py, for same-run "vs reference" rows. `peer` and `env` come from
 * @borgstore/testkit's requireReferencePeer/referenceEnv (the caller's dependency). `run` times one
 * sequential phase: { op, ns, tag, size, count } → { seconds, opsPerSec, mbPerSec }.
 */
export function startReferenceStore(peer, env, url, config) {
  const driverPath = new URL("./reference-store-driver.py", import.meta.url).pathname;
  const driver = startLineDriver(peer.python, [driverPath, url, JSON.stringify(config)], { env, what: "the reference's Store driver" });
  return {
    async run(cmd) {
      const { seconds } = await driver.run(cmd);
      return { seconds, opsPerSec: cmd.count / seconds, mbPerSec: (cmd.count * cmd.size) / seconds / 1e6 };
    },
    async list(ns) {
      return driver.run({ op: "list", ns });
    },
    async close() {
      await driver.run({ op: "close" });
      await driver.stop();
    },
  };
}
