// Our server's CLI as a child process on a loopback port: plain JavaScript so that the bench suites
// (node, no TypeScript) start replicas the same way the tests do (server.ts, scale-out.mjs).
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { fileURLToPath } from "node:url";

/**
 * Our server's CLI (packages/server, built by turbo before these tests), found as the dependency it
 * is: a path relative to this file would miss it from Stryker's sandbox copy of the package.
 */
export const SERVER_CLI = fileURLToPath(new URL("./dist/cli.js", import.meta.resolve("@borgstore/server/package.json")));

/** A port that was free a moment ago (the server binds it right after). */
export async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function accepting(port) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Starts `borgstore-server-rest --config FILE` in hosting mode; the file must say to listen on 127.0.0.1:`port`. */
export function startHosting(config, port, startTimeoutMs) {
  return startServerProcess(port, ["--config", config, "--log-level", "warning"], startTimeoutMs);
}

/** Starts the CLI with `args`, resolving once 127.0.0.1:`port` accepts connections. */
export async function startServerProcess(port, args, startTimeoutMs = 15_000) {
  const child = spawn(process.execPath, [SERVER_CLI, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text) => {
    log = (log + text).slice(-4000);
  });
  const deadline = Date.now() + startTimeoutMs;
  while (!(await accepting(port))) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${log}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not start: ${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
