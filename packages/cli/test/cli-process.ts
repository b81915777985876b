import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { type AddressInfo, type Server, type Socket, connect, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { CLI } from "./run-cli.js";

/** Our REST server's CLI (packages/server). */
export const SERVER_CLI = fileURLToPath(new URL("../../server/dist/cli.js", import.meta.url));

/** A running `borgstore` child whose stdin stays open until the test closes it. */
export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  stderr(): string;
  stdout(): string;
  /** The exit code, or the signal that killed it. */
  exited: Promise<number | NodeJS.Signals | null>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, BORGSTORE_URL: "", ...env } });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stdin.on("error", () => undefined); // the child may be gone while the test still writes
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.on("close", (code, signal) => resolve(code ?? signal)));
  return { child, stderr: () => err, stdout: () => out, exited };
}

/** Polls until `check` returns something truthy (generous bound: the machine is shared). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every file below `dir` (relative paths), sorted. */
export async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => `${e.parentPath.slice(dir.length + 1)}/${e.name}`.replace(/^\//, ""))
    .sort();
}

/** Starts our REST server as a child process on a free port (`extraArgs`: more flags); resolves with its base URL's port. */
export async function startRestServer(
  backendDir: string,
  credentials: { username: string; password: string },
  extraArgs: readonly string[] = [],
): Promise<{ port: number; stop(): void }> {
  const server = spawn(process.execPath, [SERVER_CLI, "--port", "0", "--backend", `FILE:${backendDir}`, "--create", ...extraArgs], {
    env: { ...process.env, BORGSTORE_SERVER_USERNAME: credentials.username, BORGSTORE_SERVER_PASSWORD: credentials.password },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  const port = await new Promise<number>((resolve, reject) => {
    server.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) resolve(Number(m[1]));
    });
    server.once("exit", (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
  return { port, stop: () => server.kill("SIGTERM") };
}

/**
 * A TCP proxy in front of a real server that passes `limit` response bytes per connection, then
 * either cuts the connection ("cut": the transfer fails) or holds the rest back ("stall").
 */
export class LimitingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(targetPort: number, limit: number, mode: "cut" | "stall") {
    this.#server = createServer((client) => {
      const upstream = connect(targetPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => this.#sockets.delete(s));
      }
      client.pipe(upstream);
      let forwarded = 0;
      upstream.on("data", (data: Buffer) => {
        const room = limit - forwarded;
        if (room > 0) client.write(data.subarray(0, room));
        forwarded += data.length;
        if (forwarded < limit) return;
        if (mode === "cut") {
          client.destroy();
          upstream.destroy();
        } else upstream.pause();
      });
      upstream.on("end", () => client.end());
      client.on("close", () => upstream.destroy());
    });
  }

  static async start(targetPort: number, limit: number, mode: "cut" | "stall"): Promise<LimitingProxy> {
    const proxy = new LimitingProxy(targetPort, limit, mode);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
