import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { type HostingServer, openHostingServer } from "../src/hosting/hosting-server.js";
import { Logger } from "../src/logger.js";
import { ACCEPT, CLI } from "./helpers.js";

/** Writes an htpasswd file with Debian's `htpasswd -B` (bcrypt, cost 4 to keep tests fast). */
export function writeHtpasswd(path: string, logins: Record<string, string>): void {
  let first = true;
  for (const [login, password] of Object.entries(logins)) {
    execFileSync("htpasswd", [first ? "-cbB" : "-bB", "-C", "4", path, login, password], { stdio: "ignore" });
    first = false;
  }
}

/**
 * Writes `hosting.toml` in `dir` (htpasswd beside it, port 0, auto_create) with `extra` appended and
 * `repositories` added to its [repositories] table; returns its path.
 */
export function writeHostingConfig(dir: string, backend: string, extra = "", repositories = ""): string {
  const path = join(dir, "hosting.toml");
  writeFileSync(
    path,
    `htpasswd = "htpasswd"\n\n[listen]\nport = 0\n\n[repositories]\nbackend = "${backend}"\nauto_create = true\n${repositories}\n${extra}\n`,
  );
  return path;
}

/** A hosting-mode CLI process. */
export interface HostingProcess {
  child: ChildProcess;
  port: number;
  stderr(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `borgstore-server-rest --config FILE`; resolves once it listens, rejects with its log if it exits first. */
export function startHosting(config: string, args: string[] = []): Promise<HostingProcess> {
  const child = spawn(process.execPath, [CLI, "--config", config, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr?.setEncoding("utf8").on("data", (text: string) => {
      log += text;
      const port = /hosting .* on https?:\/\/127\.0\.0\.1:(\d+)\//.exec(log)?.[1];
      if (port)
        resolve({
          child,
          port: Number(port),
          stderr: () => log,
          exited,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            return exited;
          },
        });
    });
    exited.then((code) => reject(new Error(`exited with ${code} before listening:\n${log}`)));
  });
}

/**
 * The status and body of one request whose target goes out byte for byte (UTF-8), as a hostile
 * client would send it: no client library normalising or refusing the path. One connection each.
 */
export function rawRequest(
  port: number,
  method: string,
  target: string,
  options: { login?: string; body?: Uint8Array; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Host: "127.0.0.1", Accept: ACCEPT, Connection: "close", ...options.headers };
    if (options.login) headers.Authorization = `Basic ${Buffer.from(options.login).toString("base64")}`;
    if ((options.body || method === "POST") && !options.headers?.["Content-Length"]) headers["Content-Length"] = options.body?.byteLength ?? 0;
    const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("")}\r\n`;
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A server that refuses an upload before its body closes while the body is still being
    // written (EPIPE, ECONNRESET): its answer has arrived, and 'close' follows.
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE" && err.code !== "ECONNRESET") reject(err);
    });
    socket.on("close", () => {
      const all = Buffer.concat(chunks);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all.toString("latin1"))?.[1] ?? 0);
      const split = all.indexOf("\r\n\r\n");
      const bytes = split < 0 ? Buffer.alloc(0) : all.subarray(split + 4);
      resolve({ status, body: bytes.toString(), bytes });
    });
    socket.write(Buffer.from(head, "utf8"));
    if (options.body) socket.write(options.body);
  });
}

/**
 * Sends the request head, waits until the server had time to route it, then the body (unless
 * answered already): the status.
 */
export function announcedUpload(port: number, target: string, login: string, body: Buffer, waitMs = 500): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      answer += text;
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE" && err.code !== "ECONNRESET") reject(err);
    });
    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    const auth = Buffer.from(login).toString("base64");
    socket.write(
      `POST ${target} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: Basic ${auth}\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`,
    );
    setTimeout(() => {
      if (answer === "" && !socket.destroyed) socket.write(body);
    }, waitMs);
  });
}

/** A logger that drops everything (for in-process servers whose logs a test does not read). */
export const quietLogger = (): Logger => new Logger("error", new Writable({ write: (_c, _e, done) => done() }));

/** Opens a hosting server in this process from the config file at `config` and listens on a free port. */
export async function listenHosting(
  config: string,
  options: Parameters<typeof openHostingServer>[2] = {},
  logger: Logger = quietLogger(),
): Promise<{ hosting: HostingServer; port: number }> {
  const hosting = await openHostingServer(config, logger, options);
  return { hosting, port: (await hosting.listen()).port };
}
