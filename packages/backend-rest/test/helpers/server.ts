import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { type AddressInfo, connect, createServer } from "node:net";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Our server's CLI (packages/server, built by turbo before these tests), found as the dependency it
 * is: a path relative to this file would miss it from Stryker's sandbox copy of the package.
 */
export const SERVER_CLI = fileURLToPath(new URL("./dist/cli.js", import.meta.resolve("@borgstore/server/package.json")));

export interface RunningServer {
  /** http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the server binds it right after). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Starts `borgstore-server-rest` on a free loopback port with the given extra flags (quiet: warnings only). */
export async function startServer(args: readonly string[]): Promise<RunningServer> {
  const port = await freePort();
  return startCli(port, ["--host", "127.0.0.1", "--port", String(port), "--log-level", "warning", ...args]);
}

/** Starts `borgstore-server-rest --config FILE` in hosting mode; the file must say to listen on 127.0.0.1:`port`. */
export function startHosting(config: string, port: number, startTimeoutMs?: number): Promise<RunningServer> {
  return startCli(port, ["--config", config, "--log-level", "warning"], startTimeoutMs);
}

async function startCli(port: number, args: readonly string[], startTimeoutMs = 15_000): Promise<RunningServer> {
  const child = spawn(process.execPath, [SERVER_CLI, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => {
    log = (log + text).slice(-4000);
  });
  const deadline = Date.now() + startTimeoutMs;
  while (!(await accepting(port))) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${log}`);
    if (Date.now() > deadline) throw new Error(`server did not start: ${log}`);
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

/**
 * Puts a directory with a `borgstore-server-rest` wrapper (running our CLI) first on PATH, as an
 * installed package would, so `rest:///path` URLs find it. Returns the directory.
 */
export function putServerOnPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "borgstore-rest-bin-"));
  const wrapper = join(dir, "borgstore-server-rest");
  writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${SERVER_CLI}" "$@"\n`);
  chmodSync(wrapper, 0o755);
  process.env.PATH = `${dir}${delimiter}${process.env.PATH ?? ""}`;
  return dir;
}
