import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BackendDoesNotExist, BackendError } from "@borgstore/core";
import { WATCHDOG_SCRIPT } from "./watchdog.js";

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
  /** False once rclone has exited, for whatever reason. */
  readonly alive: boolean;
  stop(): Promise<void>;
}

const STOP_WAIT_MS = 10_000;
const SERVING = /Serving remote control on (http:\/\/[^\s/]+)/;

interface Tracked {
  watchdog: ChildProcessWithoutNullStreams;
  rclonePid: number | undefined;
}

/** Every rcd this process started and has not stopped yet: killed when the process exits. */
const live = new Set<Tracked>();

function killAllOnExit(): void {
  for (const { watchdog, rclonePid } of live)
    for (const pid of [rclonePid, watchdog.pid]) {
      try {
        if (pid) process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
}

function track(entry: Tracked): void {
  if (live.size === 0) process.on("exit", killAllOnExit);
  live.add(entry);
}

function untrack(entry: Tracked): void {
  live.delete(entry);
  if (live.size === 0) process.removeListener("exit", killAllOnExit);
}

/** The environment for rclone: ours without any RCLONE_RC_* (they would change its address or auth). */
function rcloneEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("RCLONE_RC_")) env[key] = value;
  return env;
}

/**
 * Starts `rclone rcd` on 127.0.0.1 with a port chosen by the kernel (rclone logs the address it
 * got, so no other program can take the port between choosing and binding), a random user and a
 * random password.
 *
 * rcd learns the password only as an unsalted SHA-1 in an htpasswd file (mode 0600, in a private
 * 0700 directory): the password itself is on no command line and in no environment, and rclone
 * checks a request with one SHA-1. With --rc-user/--rc-pass it would run md5crypt (1000 rounds of
 * MD5) on every request, measured here at 0.2 ms of CPU, three times the rest of an operations/stat.
 * The password is 24 random bytes, so a fast hash gives nothing away.
 */
export async function startRcd(options: RcdOptions): Promise<RunningRcd> {
  const user = `borgstore-${randomBytes(6).toString("hex")}`;
  const password = randomBytes(24).toString("base64url");
  const privateDir = await mkdtemp(join(tmpdir(), "borgstore-rclone-rcd-"));
  const htpasswd = join(privateDir, "htpasswd");
  await writeFile(htpasswd, `${user}:{SHA}${createHash("sha1").update(password).digest("base64")}\n`, { mode: 0o600 });
  const args = [
    "rcd",
    "--rc-addr",
    "127.0.0.1:0",
    "--rc-htpasswd",
    htpasswd,
    "--rc-serve",
    "--use-server-modtime",
    "--log-level",
    options.debug ? "DEBUG" : "NOTICE",
    ...options.extraArgs,
  ];
  const watchdog = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT, "watchdog", privateDir, options.binary, ...args], {
    env: rcloneEnv(),
    stdio: ["pipe", "pipe", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches the caller, which then closes cleanly.
    detached: true,
  });
  const entry: Tracked = { watchdog, rclonePid: undefined };
  track(entry);
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    watchdog.once("exit", (code) => {
      alive = false;
      untrack(entry);
      resolve(code);
    }),
  );
  watchdog.once("error", () => {});

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
  createInterface({ input: watchdog.stdout }).once("line", (line) => {
    try {
      entry.rclonePid = (JSON.parse(line) as { pid?: number }).pid;
    } catch {
      // not the watchdog's report: leave the pid unknown
    }
  });

  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    origin.then((o) => ({ origin: o })),
    exited.then((code) => ({ exitCode: code })),
    new Promise<{ timeout: true }>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), options.startTimeoutMs))),
  ]);
  clearTimeout(timer);
  if (!("origin" in outcome)) {
    watchdog.kill("SIGTERM");
    await rm(privateDir, { recursive: true, force: true });
    if ("exitCode" in outcome && (outcome.exitCode === 127 || outcome.exitCode === 126))
      throw new BackendDoesNotExist(
        `rclone binary not found or not executable: ${options.binary} (install rclone ≥ 1.57, or set RCLONE_BINARY)`,
      );
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
    get pid() {
      return entry.rclonePid ?? -1;
    },
    get alive() {
      if (!alive || entry.rclonePid === undefined) return alive;
      try {
        process.kill(entry.rclonePid, 0);
        return true;
      } catch {
        return false;
      }
    },
    stop() {
      stopping ??= (async () => {
        if (!alive) return;
        watchdog.ref();
        // The watchdog stops rclone and exits with it.
        watchdog.kill("SIGTERM");
        let timeout: NodeJS.Timeout | undefined;
        const done = await Promise.race([
          exited.then(() => true),
          new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(false), STOP_WAIT_MS))),
        ]);
        clearTimeout(timeout);
        if (!done)
          for (const pid of [entry.rclonePid, watchdog.pid])
            try {
              if (pid) process.kill(pid, "SIGKILL");
            } catch {}
        await rm(privateDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
