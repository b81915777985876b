import { spawn } from "node:child_process";
import { Duplex } from "node:stream";

const STDERR_KEPT = 2000;

/**
 * The ssh connection's byte stream through a proxy program (ProxyCommand, or `ssh -W` for
 * ProxyJump): its stdout is what the server sends, its stdin what we send, as for ssh itself.
 * The stream ends once the program has exited; if it failed, the stream fails with its exit
 * status and last stderr lines, so the connection error says why (a write to a program that is
 * gone is not the error: its exit is). Destroying the stream (connection closed) kills the
 * program: it must not outlive the connection.
 */
export function proxySocket(argv: readonly string[], target: { host: string; port: number }): ProxySocket {
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
  const describe = () => `proxy for ${target.host}:${target.port} (${argv.join(" ")})`;
  let stderr = "";
  let failure: (why: string | undefined) => void = () => {};
  const outcome = new Promise<string | undefined>((resolve) => {
    failure = resolve;
  });
  const stream = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (child.stdin.destroyed) return callback();
      child.stdin.write(chunk, () => callback());
    },
    final(callback) {
      child.stdin.end(() => callback());
    },
    destroy(err, callback) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      callback(err);
    },
  });
  child.stdin.on("error", () => {});
  child.stdout.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) child.stdout.pause();
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEPT);
  });
  child.on("error", (err) => {
    const why = `${describe()} could not be started: ${err.message}`;
    failure(why);
    stream.destroy(new Error(why));
  });
  child.on("close", (code, signal) => {
    if (code === 0) {
      failure(undefined);
      return void stream.push(null);
    }
    const why = `${describe()} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ""}`;
    failure(why);
    stream.destroy(new Error(why));
  });
  // As a TCP socket's: an idle pooled connection must not keep the process alive.
  const pipes = [child.stdin, child.stdout, child.stderr] as unknown as { ref?(): void; unref?(): void }[];
  return Object.assign(stream, {
    failure: (waitMs: number) => Promise.race([outcome, new Promise<undefined>((r) => setTimeout(() => r(undefined), waitMs).unref())]),
    ref() {
      child.ref();
      for (const p of pipes) p.ref?.();
    },
    unref() {
      child.unref();
      for (const p of pipes) p.unref?.();
    },
  });
}

/**
 * The stream, why its program failed (once it has exited; undefined if it did not fail within
 * `waitMs`), and ref/unref as a socket has them.
 */
export type ProxySocket = Duplex & { failure(waitMs: number): Promise<string | undefined>; ref(): void; unref(): void };
