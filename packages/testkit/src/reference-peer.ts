import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";

/**
 * The unmodified Python borgstore (the reference implementation) as a test peer: its REST server
 * and its client/Store, run with Debian's python3. Found at BORGSTORE_REFERENCE_SRC, or at
 * `shared/reference/borgstore-0.6.0/src` beside any folder above the working directory (the
 * project's checkout keeps `../shared/` next to it).
 */
export interface ReferencePeer {
  /** The python3 that runs it (Debian's, with requests/paramiko/boto3 from apt). */
  python: string;
  /** Its `src` folder, for PYTHONPATH. */
  src: string;
}

const REFERENCE_SUBPATH = join("shared", "reference", "borgstore-0.6.0", "src");

function locateReferenceSrc(): string | undefined {
  const fromEnv = process.env.BORGSTORE_REFERENCE_SRC;
  if (fromEnv) return existsSync(join(fromEnv, "borgstore")) ? resolve(fromEnv) : undefined;
  let dir = process.cwd();
  for (;;) {
    for (const candidate of [join(dir, REFERENCE_SUBPATH), join(dir, "..", REFERENCE_SUBPATH)])
      if (existsSync(join(candidate, "borgstore", "store.py"))) return resolve(candidate);
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function locatePython(modules: readonly string[]): string | undefined {
  // Debian's python3 first: a pyenv shim earlier on PATH may lack the apt-installed modules.
  for (const python of ["/usr/bin/python3", "python3"]) {
    const check = spawnSync(python, ["-c", modules.map((m) => `import ${m}`).join("; ") || "pass"], { stdio: "ignore" });
    if (check.status === 0) return python;
  }
  return undefined;
}

/**
 * The reference peer, or undefined after a loud skip message; under CI=true a missing peer (or a
 * missing Python module it needs) is a failure, as for every other real test server.
 */
export function requireReferencePeer(what: string, modules: readonly string[] = []): ReferencePeer | undefined {
  const src = locateReferenceSrc();
  const python = src ? locatePython(modules) : undefined;
  if (src && python) return { src, python };
  const missing = !src
    ? "the Python reference (shared/reference/borgstore-0.6.0/src, or BORGSTORE_REFERENCE_SRC) was not found"
    : `no python3 can import ${modules.join(", ")} (scripts/install-test-servers.sh installs them from Debian)`;
  const message = `${what}: ${missing}`;
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING ${message}\n\n`);
  return undefined;
}

/** Environment that makes `import borgstore` load the reference. */
export function referenceEnv(peer: ReferencePeer, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: peer.src, PYTHONDONTWRITEBYTECODE: "1", ...extra };
}

/** argv of the reference's stdio server for a posixfs store at `path` (what `rest:///path` runs). */
export function referenceStdioCommand(peer: ReferencePeer, path: string): string[] {
  return [peer.python, "-m", "borgstore.server.rest", "--stdio", "--backend", `FILE:${path}`];
}

/** Options of startReferenceServer: the server's command-line options. */
export interface ReferenceServerOptions {
  /** The backend URL the reference serves, e.g. `file:///tmp/store`. */
  backend: string;
  /** `--username` (Basic auth). */
  username?: string;
  /** `--password` (Basic auth). */
  password?: string;
  /** `--quota` in bytes. */
  quota?: number;
  /** `--permissions`: a shortcut name or a JSON mapping. */
  permissions?: string;
}

/** A running reference REST server. */
export interface ReferenceServer {
  /** The loopback TCP port it listens on. */
  port: number;
  /** `http://[user:pass@]127.0.0.1:PORT/` */
  url: string;
  /** The Python server process. */
  process: ChildProcess;
  /** What the server printed on stderr so far. */
  log(): string;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts the reference REST server on a free loopback port and waits until it accepts connections. */
export async function startReferenceServer(peer: ReferencePeer, options: ReferenceServerOptions): Promise<ReferenceServer> {
  const port = await freePort();
  const args = ["-m", "borgstore.server.rest", "--host", "127.0.0.1", "--port", String(port), "--backend", options.backend];
  if (options.username !== undefined) args.push("--username", options.username);
  if (options.password !== undefined) args.push("--password", options.password);
  if (options.quota !== undefined) args.push("--quota", String(options.quota));
  if (options.permissions !== undefined) args.push("--permissions", options.permissions);
  const child = spawn(peer.python, args, { env: referenceEnv(peer), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (text: string) => {
    stderr = (stderr + text).slice(-64 * 1024);
  });
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the reference server did not start on port ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const auth =
    options.username !== undefined && options.password !== undefined
      ? `${encodeURIComponent(options.username)}:${encodeURIComponent(options.password)}@`
      : "";
  return {
    port,
    url: `http://${auth}127.0.0.1:${port}/`,
    process: child,
    log: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a Python snippet with the reference importable; resolves with its exit status and output. */
export function runReferencePython(
  peer: ReferencePeer,
  code: string,
  options: { args?: string[]; input?: string | Uint8Array; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{
  /** Exit status, null if killed by a signal. */
  status: number | null;
  /** Everything written to stdout. */
  stdout: Buffer;
  /** Everything written to stderr. */
  stderr: string;
}> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(peer.python, ["-c", code, ...(options.args ?? [])], {
      env: referenceEnv(peer, options.env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      err += text;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.once("error", reject);
    child.once("close", (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(options.input ?? "");
  });
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePromise(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", () => resolvePromise(false));
  });
}
