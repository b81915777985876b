/**
 * Source of the tiny Node program that sits between this process and `rclone rcd`.
 *
 * rclone cannot notice that its parent died, so a caller killed with SIGKILL (or a crashed event
 * loop that never runs `exit` handlers) would leave rcd running. The watchdog holds the read end
 * of a pipe whose write end only this process has: when this process goes away, for whatever
 * reason, the pipe reaches end-of-file and the watchdog stops rclone. It reports rclone's pid (or
 * why it could not be started) as one JSON line on stdout, passes rclone's stderr through, and
 * exits with rclone's exit code.
 *
 * Run as `node -e WATCHDOG_SOURCE -- BINARY ARGS…` (a string, so it works the same from src/ under
 * the test runner and from dist/).
 */
export const WATCHDOG_SOURCE = `
"use strict";
const { spawn } = require("node:child_process");
const [binary, ...args] = process.argv.slice(1);
const report = (message) => process.stdout.write(JSON.stringify(message) + "\\n");
const child = spawn(binary, args, { stdio: ["ignore", "ignore", "inherit"] });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  try { child.kill("SIGTERM"); } catch {}
  setTimeout(() => { try { child.kill("SIGKILL"); } catch {} }, 10000).unref();
};
child.on("spawn", () => report({ pid: child.pid }));
child.on("error", (err) => { report({ error: err.message, code: err.code }); process.exit(127); });
child.on("exit", (code, signal) => process.exit(code === null ? 128 : code));
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, stop);
`;
