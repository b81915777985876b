import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { createProgram, listenOnTcp, prepareServer } from "../src/command-line.js";
import { Logger } from "../src/logger.js";
import type { BackendHost } from "../src/backend-host.js";
import type { RestServer } from "../src/server.js";

export const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
export const ACCEPT = "application/vnd.x.borgstore.rest.v1";
export const AUTH = `Basic ${Buffer.from("testuser:testpass").toString("base64")}`;
/** The server's credentials as its env vars: what AUTH sends. */
export const CREDENTIALS = { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" };

export function tempDir(prefix = "borgstore-server-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A server listening on a free loopback port: in this process or a child. */
export interface RunningServer {
  port: number;
  /** Its log so far. */
  stderr(): string;
  /** SIGTERM (or, in-process, what the CLI does on it: shutdown), then the exit code (0: clean). */
  stop(): Promise<number | null>;
}

/** A real child process of the CLI, listening on a free loopback port. */
export interface ServerProcess extends RunningServer {
  child: ChildProcess;
  exited: Promise<number | null>;
}

/**
 * The CLI's server in this process (so its code is the code under test, mutants included): the
 * arguments go through the CLI's own parsing and startup (src/command-line.ts); `env` is seen by
 * the options' env vars. What the process itself does (signals, exit codes, stdio, heap tuning,
 * socket activation) needs `startServer`.
 */
export async function startInProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
  const program = createProgram()
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  Object.assign(process.env, env);
  try {
    program.parse(["--port", "0", ...args], { from: "user" });
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  let log = "";
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log += chunk.toString();
      done();
    },
  });
  const prepared = await prepareServer(program, new Logger(program.opts().logLevel, out, program.opts().logFormat));
  const { port } = await listenOnTcp(prepared);
  let stopped: Promise<number> | undefined;
  return {
    port,
    stderr: () => log,
    stop: () => {
      stopped ??= prepared.server.shutdown(prepared.options.shutdownTimeout * 1000).then(
        () => 0,
        (err) => {
          log += `shutdown failed: ${(err as Error).message}\n`;
          return 1;
        },
      );
      return stopped;
    },
  };
}

export async function startServer(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, "--port", "0", ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /^serving .* on https?:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(err);
      if (m) resolve(Number(m[1]));
    });
    exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${err}`)));
  });
  return cliProcess(child, port, () => err, exited);
}

/**
 * The CLI on a port chosen here: below --log-level info it does not print the address it listens
 * on (which startServer waits for), so this waits until the port accepts connections.
 */
export async function startOnPort(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, "--port", String(port), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  for (const until = Date.now() + 10_000; ; ) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1", () => resolve(true)).on("error", () => resolve(false));
      s.once("connect", () => s.destroy());
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > until) throw new Error(`server did not start: ${err}`);
    await sleep(30);
  }
  return cliProcess(child, port, () => err, exited);
}

function cliProcess(child: ChildProcess, port: number, stderr: () => string, exited: Promise<number | null>): ServerProcess {
  return {
    port,
    child,
    stderr,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface RawResponse {
  status: number;
  reason: string;
  headers: [string, string][];
  body: Buffer;
}

export function header(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

/** A raw HTTP/1.1 connection: exact request bytes out, responses parsed by Content-Length. */
export class RawConnection {
  readonly #write: (data: string | Buffer) => void;
  readonly #destroy: () => void;
  #buffer = Buffer.alloc(0);
  #closed = false;
  #waiters: Array<() => void> = [];

  private constructor(input: NodeJS.EventEmitter, write: (data: string | Buffer) => void, destroy: () => void) {
    this.#write = write;
    this.#destroy = destroy;
    input.on("data", (d: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, d]);
      this.#wake();
    });
    const onClose = () => {
      this.#closed = true;
      this.#wake();
    };
    input.on("close", onClose);
    input.on("end", onClose);
    input.on("error", () => {});
  }

  /** TCP to `port` on loopback, or a unix socket when given a path. */
  static open(port: number | string, host = "127.0.0.1"): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const onConnect = () =>
        resolve(new RawConnection(socket, (d) => socket.write(d), () => socket.destroy()));
      const socket: Socket = typeof port === "string" ? connect(port, onConnect) : connect(port, host, onConnect);
      socket.once("error", reject);
    });
  }

  /** A child's stdout (responses) and stdin (requests) as one connection. */
  static fromStreams(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): RawConnection {
    return new RawConnection(input, (d) => output.write(d), () => output.end());
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(data: string | Buffer): void {
    this.#write(data);
  }

  /** Resolves once the peer closed, or `ms` passed (false then). */
  async waitClosed(ms = 2000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.#closed && Date.now() < deadline) await this.#wait(deadline - Date.now());
    return this.#closed;
  }

  async response(options: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      const end = this.#buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const lines = this.#buffer.subarray(0, end).toString("latin1").split("\r\n");
        const statusLine = lines.shift() ?? "";
        const m = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine);
        if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
        const headers = lines.map((l) => {
          const i = l.indexOf(":");
          return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string];
        });
        const length = options.head ? 0 : Number(headers.find(([k]) => k.toLowerCase() === "content-length")?.[1] ?? 0);
        while (this.#buffer.length < end + 4 + length) {
          if (this.#closed) throw new Error("connection closed inside a response body");
          if (Date.now() > deadline) throw new Error("timeout reading a response body");
          await this.#wait(deadline - Date.now());
        }
        const body = this.#buffer.subarray(end + 4, end + 4 + length);
        this.#buffer = this.#buffer.subarray(end + 4 + length);
        return { status: Number(m[1]), reason: m[2] ?? "", headers, body: Buffer.from(body) };
      }
      if (this.#closed) throw new Error(`connection closed before a response (got ${JSON.stringify(this.#buffer.toString("latin1"))})`);
      if (Date.now() > deadline) throw new Error("timeout waiting for a response");
      await this.#wait(deadline - Date.now());
    }
  }

  close(): void {
    this.#destroy();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/** Request bytes: request line, headers in the given order and casing, body. */
export function rawRequest(method: string, target: string, headers: [string, string][], body: Buffer | string = ""): Buffer {
  const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

/** One request on a fresh connection, with the protocol's Accept and the test credentials. */
export async function request(
  port: number | string,
  method: string,
  target: string,
  options: { headers?: [string, string][]; body?: Buffer | string; auth?: boolean } = {},
): Promise<RawResponse> {
  const conn = await RawConnection.open(port);
  try {
    const headers: [string, string][] = [["Host", "127.0.0.1"], ["Accept", ACCEPT]];
    if (options.auth !== false) headers.push(["Authorization", AUTH]);
    const body = options.body ?? "";
    if (method === "POST" || method === "DELETE" || body.length > 0) headers.push(["Content-Length", String(Buffer.byteLength(body))]);
    headers.push(...(options.headers ?? []));
    conn.send(rawRequest(method, target, headers, body));
    return await conn.response({ head: method === "HEAD" });
  } finally {
    conn.close();
  }
}

/** A memory figure of a process from /proc/PID/status, in bytes (VmHWM: peak RSS). */
export function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1]) * 1024;
}

/** Peak RSS restarts from the current RSS (Linux: write 5 to clear_refs); returns that RSS. */
export function resetPeak(pid: number): number {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  return statusKiB(pid, "VmRSS");
}

/** A sparse file of `size` bytes written straight into the posixfs store (fast, no upload), `head` at its start. */
export function placeObject(store: string, name: string, size: number, head: Buffer = Buffer.alloc(0)): void {
  const fd = openSync(join(store, name), "w");
  ftruncateSync(fd, size);
  writeSync(fd, head, 0, head.length, 0);
  closeSync(fd);
}

/** A defrag request's body: its sources as [name, offset, size]. */
export function defragSources(list: Array<[string, number, number]>): string {
  return JSON.stringify(list);
}

/**
 * One store and load of 10 kB through fetch, retried (as a real client does) while the server
 * refuses it. A refused connection may also leave fetch waiting (undici), hence the per-attempt timeout.
 */
export async function storeAndLoad(base: string, name: string): Promise<{ retries: number }> {
  const value = randomBytes(10_000);
  const headers = { Accept: ACCEPT, Authorization: AUTH };
  for (let retries = 0; ; retries++) {
    try {
      const signal = AbortSignal.timeout(1_000);
      const stored = await fetch(`${base}/${name}`, { method: "POST", headers, body: value, signal });
      expect(stored.status).toBe(200);
      await stored.arrayBuffer();
      const loaded = await fetch(`${base}/${name}`, { headers, signal });
      expect(loaded.status).toBe(200);
      expect(Buffer.from(await loaded.arrayBuffer()).equals(value)).toBe(true);
      return { retries };
    } catch (err) {
      const networkError = err instanceof TypeError || (err as Error).name === "TimeoutError";
      if (!networkError || retries > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The one store of a single-store server (hosting-mode servers have none). */
export function singleHost(server: RestServer): BackendHost {
  if (!server.host) throw new Error("a hosting-mode server has no single store");
  return server.host;
}
