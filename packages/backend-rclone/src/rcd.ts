import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { BackendDoesNotExist, BackendError } from "@borgstore/core";
import { WATCHDOG_SOURCE } from "./watchdog.js";

export interface RcdOptions {
  /** rclone executable (name on PATH or path). */
  binary: string;
  /** Pass rclone's log (at DEBUG level) through to this process's stderr. */
  debug: boolean;
  /** How long rcd may take to start listening. */
  startTimeoutMs: number;
  /** More rclone flags, e.g. ["--config", "/path/rclone.conf"]. */
  extraArgs: readonly string[];
}

/** A running `rclone rcd` on a loopback port, reachable with its own random credentials. */
export interface RunningRcd {
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  readonly user: string;
  readonly password: string;
  /** rclone's own pid (the watchdog between us and it has another). */
  readonly pid: number;
  stop(): Promise<void>;
}

const STOP_WAIT_MS = 10_000;
const SERVING = /Serving remote control on (http:\/\/[^\s/]+)/;

/** Every rcd this process started and has not stopped yet: killed when the process exits. */
const live = new Set<{ watchdog: ChildProcessWithoutNullStreams; rclonePid: number }>();

function killAllOnExit(): void {
  for (const { watchdog, rclonePid } of live) {
    for (const pid of [rclonePid, watchdog.pid]) {
      try {
        if (pid) process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  }
}

function track(entry: { watchdog: ChildProcessWithoutNullStreams; rclonePid: number }): void {
  if (live.size === 0) process.on("exit", killAllOnExit);
  live.add(entry);
}

function untrack(entry: { watchdog: ChildProcessWithoutNullStreams; rclonePid: number }): void {
  live.delete(entry);
  if (live.size === 0) process.removeListener("exit", killAllOnExit);
}

/** The environment for rclone: ours without any RCLONE_RC_* (they would change auth or address), plus the password. */
function rcloneEnv(password: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("RCLONE_RC_")) env[key] = value;
  env.RCLONE_RC_PASS = password;
  return env;
}

/**
 * Starts `rclone rcd` on 127.0.0.1 with a port chosen by the kernel (rclone logs the address it
 * got, so no port can be taken between choosing and binding), a random user and a random password
 * given through the environment (never on the command line, where `ps` shows it).
 */
export async function startRcd(options: RcdOptions): Promise<RunningRcd> {
  const user = `borgstore-${randomBytes(6).toString("hex")}`;
  const password = randomBytes(24).toString("base64url");
  const args = [
    "rcd",
    "--rc-addr",
    "127.0.0.1:0",
    "--rc-user",
    user,
    "--rc-serve",
    "--use-server-modtime",
    "--log-level",
    options.debug ? "DEBUG" : "NOTICE",
    ...options.extraArgs,
  ];
  const watchdog = spawn(process.execPath, ["-e", WATCHDOG_SOURCE, "--", options.binary, ...args], {
    env: rcloneEnv(password),
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches the caller, which then closes cleanly.
    detached: true,
    windowsHide: true,
  });
  const exited = new Promise<number | null>((resolve) => watchdog.once("exit", (code) => resolve(code)));
  const stderrTail: string[] = [];
  let serving: (origin: string) => void = () => {};
  const origin = new Promise<string>((resolve) => (serving = resolve));
  createInterface({ input: watchdog.stderr }).on("line", (line) => {
    if (options.debug) process.stderr.write(`rclone: ${line}\n`);
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    const m = SERVING.exec(line);
    if (m?.[1]) serving(m[1]);
  });
  const report = new Promise<{ pid?: number; error?: string; code?: string }>((resolve) => {
    createInterface({ input: watchdog.stdout }).once("line", (line) => {
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve({ error: `unexpected watchdog output: ${line}` });
      }
    });
    watchdog.once("exit", () => resolve({ error: "rclone watchdog exited" }));
  });

  const kill = () => {
    try {
      watchdog.kill("SIGKILL");
    } catch {}
  };
  const started = await report;
  if (started.pid === undefined) {
    kill();
    if (started.code === "ENOENT" || started.code === "EACCES")
      throw new BackendDoesNotExist(
        `rclone binary not found or not executable: ${options.binary} (install rclone ≥ 1.57, or set RCLONE_BINARY)`,
      );
    throw new BackendError(`could not start rclone (${options.binary}): ${started.error}`);
  }
  const entry = { watchdog, rclonePid: started.pid };
  track(entry);

  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    origin.then((o) => ({ origin: o })),
    exited.then((code) => ({ exitCode: code })),
    new Promise<{ timeout: true }>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), options.startTimeoutMs))),
  ]);
  clearTimeout(timer);
  if (!("origin" in outcome)) {
    kill();
    untrack(entry);
    const why = "timeout" in outcome ? `did not start listening within ${options.startTimeoutMs} ms` : `exited with code ${outcome.exitCode}`;
    throw new BackendError(`rclone rcd (${options.binary}) ${why}: ${stderrTail.join("\n")}`);
  }

  // Nothing of ours may keep the caller's event loop alive: an open backend is not a reason to run.
  watchdog.unref();
  for (const stream of [watchdog.stdin, watchdog.stdout, watchdog.stderr])
    (stream as unknown as { unref?: () => void }).unref?.();

  let stopping: Promise<void> | undefined;
  return {
    origin: outcome.origin,
    user,
    password,
    pid: started.pid,
    stop() {
      stopping ??= (async () => {
        // Closing the pipe is the watchdog's signal to stop rclone; it exits once rclone has.
        watchdog.ref();
        watchdog.stdin.end();
        let timeout: NodeJS.Timeout | undefined;
        const done = await Promise.race([
          exited.then(() => true),
          new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(false), STOP_WAIT_MS))),
        ]);
        clearTimeout(timeout);
        if (!done) {
          try {
            process.kill(started.pid as number, "SIGKILL");
          } catch {}
          kill();
        }
        untrack(entry);
      })();
      return stopping;
    },
  };
}
