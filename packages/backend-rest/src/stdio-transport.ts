import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { BackendConnectionError, BackendError, type ByteSource, collectBytes } from "@borgstore/core";
import { MEDIA_TYPE } from "@borgstore/core/rest-protocol";
import { type RestRequest, type RestResponse, type Transport, bodyLength } from "./transport.js";

export interface StdioTransportOptions {
  /** How long close() waits for the child to exit after its stdin closed, in ms (then it is killed). */
  timeout: number;
  env?: NodeJS.ProcessEnv;
}

const STDERR_LINES = 10;
const HEAD_END = Buffer.from("\r\n\r\n");

/**
 * HTTP/1.1 over the stdin/stdout of a child process (`borgstore-server-rest --stdio`, locally or
 * through ssh). One exchange at a time: the next request waits until the previous response body
 * was read. The child ignores SIGINT, like the reference's, so Ctrl-C reaches only the caller.
 */
export class StdioTransport implements Transport {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #stdout: AsyncIterator<Buffer>;
  readonly #stderr: string[] = [];
  readonly #exited: Promise<number | null>;
  readonly #timeout: number;
  #pending: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  #turn: Promise<void> = Promise.resolve();
  #writeError: Error | undefined;
  #exitCode: number | null | undefined;
  readonly #stderrClosed: Promise<void>;
  readonly #commandText: string;

  constructor(command: readonly string[], options: StdioTransportOptions) {
    this.#timeout = options.timeout;
    this.#commandText = command.join(" ");
    const [file, args] =
      process.platform === "win32"
        ? [command[0] as string, command.slice(1)]
        : ["/bin/sh", ["-c", 'trap "" INT; exec "$@"', "sh", ...command]];
    this.#child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
    this.#exited = new Promise((resolve) => {
      this.#child.on("error", (err) => {
        this.#writeError ??= err;
        this.#exitCode ??= null;
        resolve(null);
      });
      this.#child.on("exit", (code, signal) => {
        this.#exitCode = code ?? (signal ? 128 : null);
        resolve(this.#exitCode);
      });
    });
    this.#child.stdin.on("error", (err) => {
      this.#writeError ??= err;
    });
    this.#child.stderr.setEncoding("utf8");
    this.#stderrClosed = new Promise((resolve) => this.#child.stderr.once("close", resolve));
    let partial = "";
    this.#child.stderr.on("data", (text: string) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      this.#stderr.push(...lines);
      this.#stderr.splice(0, Math.max(0, this.#stderr.length - STDERR_LINES));
    });
    this.#stdout = this.#child.stdout[Symbol.asyncIterator]();
  }

  /** The last lines the child wrote to stderr. */
  get stderrTail(): string {
    return this.#stderr.join("\n");
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  async request(req: RestRequest): Promise<RestResponse> {
    const previous = this.#turn;
    let release!: () => void;
    this.#turn = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      await this.#send(req);
      const head = await this.#readHead();
      const length = req.method === "HEAD" ? 0 : Number(head.headers["content-length"] ?? 0);
      // Without a body the next exchange may start at once; otherwise once the body was read.
      if (length === 0) release();
      const body = length === 0 ? (async function* () {})() : this.#readBody(length, release);
      return {
        status: head.status,
        headers: head.headers,
        body,
        bytes: () => collectBytes(body),
        text: async () => Buffer.from(await collectBytes(body)).toString("utf8"),
        discard: async () => {
          for await (const _ of body);
        },
      };
    } catch (err) {
      // The exchange broke off half-way: the byte stream is out of step, so this child is done
      // for; later requests fail as a lost connection and the session reconnects.
      this.destroy();
      release();
      throw err;
    }
  }

  async #send(req: RestRequest): Promise<void> {
    const lines = [`${req.method} ${req.target} HTTP/1.1`, "Host: stdio-backend", `Accept: ${MEDIA_TYPE}`];
    for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`${k}: ${v}`);
    lines.push("Connection: keep-alive");
    if (req.method === "POST" || req.method === "DELETE" || req.body !== undefined)
      lines.push(`Content-Length: ${bodyLength(req.body)}`);
    await this.#write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));
    if (req.body instanceof Uint8Array) {
      if (req.body.byteLength > 0) await this.#write(req.body);
    } else if (req.body) {
      for await (const chunk of req.body.source) await this.#write(chunk);
    }
  }

  async #write(data: Uint8Array): Promise<void> {
    const stdin = this.#child.stdin;
    await this.#assertWritable();
    if (stdin.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        stdin.off("drain", done);
        stdin.off("error", done);
        stdin.off("close", done);
        resolve();
      };
      stdin.on("drain", done);
      stdin.on("error", done);
      stdin.on("close", done);
    });
    await this.#assertWritable();
  }

  async #assertWritable(): Promise<void> {
    const err = this.#writeError;
    if (err || this.#child.stdin.destroyed || this.#exitCode !== undefined)
      throw await this.#gone("broken pipe while writing the request", err);
  }

  /**
   * The error for a child that stopped talking, once its exit code and last stderr lines are in
   * (briefly awaited: they arrive after the broken pipe). A command that could not be run at all
   * (126, 127: the server is not installed there) is not a lost connection and is not retried.
   */
  async #gone(what: string, cause?: unknown): Promise<BackendError> {
    await Promise.race([Promise.all([this.#exited, this.#stderrClosed]), new Promise((r) => setTimeout(r, 1000).unref())]);
    const code = this.#exitCode;
    if (code === 126 || code === 127)
      return new BackendError(`stdio server could not be started (${this.#commandText}, exit code ${code})${this.#tail()}`, { cause });
    const exit = typeof code === "number" ? ` (it exited with code ${code})` : "";
    return new BackendConnectionError(`stdio server: ${what}${exit}${this.#tail()}`, { cause });
  }

  #tail(): string {
    const tail = this.stderrTail;
    return tail ? `: ${tail}` : "";
  }

  /** Next bytes from the child's stdout, or undefined at EOF. */
  async #more(): Promise<Buffer | undefined> {
    const next = await this.#stdout.next().catch(() => ({ done: true, value: undefined }));
    return next.done ? undefined : next.value;
  }

  async #readHead(): Promise<{ status: number; headers: Record<string, string | undefined> }> {
    let end = this.#pending.indexOf(HEAD_END);
    while (end < 0) {
      const chunk = await this.#more();
      if (!chunk) {
        const where = this.#pending.length === 0 ? "reading status line" : "reading headers";
        throw await this.#gone(`EOF while ${where}`);
      }
      this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
      end = this.#pending.indexOf(HEAD_END);
    }
    const [statusLine = "", ...headerLines] = this.#pending.subarray(0, end).toString("latin1").split("\r\n");
    this.#pending = this.#pending.subarray(end + HEAD_END.length);
    const parts = statusLine.split(" ");
    const status = Number(parts[1]);
    if (parts.length < 2 || !Number.isInteger(status))
      throw new BackendError(`stdio server: invalid status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string | undefined> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status, headers };
  }

  /** Exactly `length` bytes of body; the next exchange may start once they are read (or abandoned and drained). */
  async *#readBody(length: number, release: () => void): ByteSource {
    let left = length;
    try {
      while (left > 0) {
        if (this.#pending.length === 0) {
          const chunk = await this.#more();
          if (!chunk) {
            const failure = await this.#gone("EOF while reading response body");
            this.destroy();
            throw failure;
          }
          this.#pending = chunk;
        }
        const piece = this.#pending.subarray(0, left);
        this.#pending = this.#pending.subarray(piece.length);
        left -= piece.length;
        yield piece;
      }
    } finally {
      // A consumer that stopped early leaves bytes behind; skip them so the stream stays in sync.
      while (left > 0) {
        if (this.#pending.length === 0) {
          const chunk = await this.#more();
          if (!chunk) break;
          this.#pending = chunk;
        }
        const skip = Math.min(left, this.#pending.length);
        this.#pending = this.#pending.subarray(skip);
        left -= skip;
      }
      release();
    }
  }

  /**
   * Ends the child's stdin and waits for it to exit (killing it after the timeout). A non-zero
   * exit code is an error carrying the child's last stderr lines.
   */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), this.#timeout);
    });
    await Promise.race([this.#turn, late]);
    this.#child.stdin.end();
    let code = await Promise.race([this.#exited, late]);
    clearTimeout(timer);
    if (code === "late") {
      this.#child.kill("SIGKILL");
      await this.#exited;
      throw new BackendError(`stdio server did not exit within ${this.#timeout} ms and was killed${this.#tail()}`);
    }
    // Drain what the child still wrote so its stdout pipe is released.
    this.#child.stdout.resume();
    if (this.#writeError && (this.#writeError as NodeJS.ErrnoException).code === "ENOENT")
      throw new BackendError(`stdio server could not be started: ${this.#writeError.message}`, { cause: this.#writeError });
    code ??= 0;
    if (code !== 0) throw new BackendError(`stdio server exited with code ${code}${this.#tail()}`);
  }

  /** Stops the child at once (after a lost connection); never throws. */
  destroy(): void {
    this.#child.stdin.destroy();
    if (this.#exitCode === undefined) this.#child.kill("SIGKILL");
  }
}
