import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { BackendConnectionError, BackendError, type ByteSource, collectBytes } from "@borgstore/core";
import { MEDIA_TYPE } from "@borgstore/core/rest-protocol";
import { type ResponseHead, bodyLengthOf, isInterim, parseResponseHead } from "./response-framing.js";
import { type RestRequest, type RestResponse, type Transport, bodyLength } from "./transport.js";

export interface StdioTransportOptions {
  /**
   * The longest wait, in ms, for the child to take request bytes or send response bytes (then it
   * is killed: a lost connection; twice that until its first bytes, as it may still be starting or
   * connecting), and for it to exit after close() ended its stdin (then it is killed).
   */
  timeout: number;
  env?: NodeJS.ProcessEnv;
}

const STDERR_LINES = 10;
const STALLED = Symbol("stalled");
const HEAD_END = Buffer.from("\r\n\r\n");
/** Most bytes of response heads (interim ones included) read for one exchange. */
const MAX_HEAD_BYTES = 64 * 1024;

/**
 * HTTP/1.1 over the stdin/stdout of a child process (`borgstore-server-rest --stdio`, locally or
 * through ssh). One exchange at a time: the next request waits until the previous response body
 * was read. The child ignores SIGINT, like the reference's, so Ctrl-C reaches only the caller.
 * A child silent for longer than the timeout is killed, so no call waits for it for ever.
 */
export class StdioTransport implements Transport {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #stdout: AsyncIterator<Buffer>;
  readonly #stderr: string[] = [];
  readonly #exited: Promise<number | null>;
  readonly #timeout: number;
  #pending: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  #turn: Promise<void> = Promise.resolve();
  /** Resolves once the child is gone for good: whoever still waits for a turn goes ahead (and fails at once). */
  #openGate!: () => void;
  readonly #gate = new Promise<void>((resolve) => {
    this.#openGate = resolve;
  });
  #closing = false;
  #closed = false;
  /** The child sent its first bytes: it is up (and connected, through ssh). */
  #heardFrom = false;
  #writeError: Error | undefined;
  #exitCode: number | null | undefined;
  readonly #stderrClosed: Promise<void>;
  readonly #commandText: string;

  constructor(command: readonly string[], options: StdioTransportOptions) {
    this.#timeout = options.timeout;
    // The program only, not its arguments: BORGSTORE_RSH may carry a secret (`sshpass -p …`).
    this.#commandText = command[0] ?? "";
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
    if (this.#closing) throw this.#closedError();
    const previous = this.#turn;
    let release!: () => void;
    this.#turn = new Promise((resolve) => {
      release = resolve;
    });
    await Promise.race([previous, this.#gate]);
    if (this.#closed) {
      release();
      throw this.#closedError();
    }
    try {
      await this.#send(req);
      const head = await this.#readFinalHead();
      const length = bodyLengthOf(req.method, head);
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

  #closedError(): BackendConnectionError {
    return new BackendConnectionError("stdio server: the session was closed before the request was sent");
  }

  async #write(data: Uint8Array): Promise<void> {
    const stdin = this.#child.stdin;
    await this.#assertWritable();
    if (stdin.write(data)) return;
    let done!: () => void;
    const drained = new Promise<void>((resolve) => {
      done = resolve;
    });
    stdin.on("drain", done);
    stdin.on("error", done);
    stdin.on("close", done);
    try {
      await this.#withinTimeout(drained, "took no request bytes");
    } finally {
      stdin.off("drain", done);
      stdin.off("error", done);
      stdin.off("close", done);
    }
    await this.#assertWritable();
  }

  /**
   * `progress`, unless the child makes none for the timeout: then it is killed (the exchange is
   * out of step for good) and the wait fails as a lost connection, retried on a fresh child.
   */
  async #withinTimeout<T>(progress: Promise<T>, what: string): Promise<T> {
    // Until its first bytes the child may still be starting (or ssh connecting): a connect timeout
    // comes first, as over HTTP.
    const limit = this.#heardFrom ? this.#timeout : 2 * this.#timeout;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<typeof STALLED>((resolve) => {
      timer = setTimeout(() => resolve(STALLED), limit);
    });
    try {
      const outcome = await Promise.race([progress, stalled]);
      if (outcome !== STALLED) return outcome as T;
    } finally {
      clearTimeout(timer);
    }
    this.destroy();
    throw new BackendConnectionError(`stdio server ${what} within ${limit} ms and was killed${this.#tail()}`);
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
    const next = await this.#withinTimeout(
      this.#stdout.next().catch(() => ({ done: true, value: undefined })),
      "sent no response bytes",
    );
    if (next.done) return undefined;
    this.#heardFrom = true;
    return next.value;
  }

  /** The head of the final response: interim (1xx) ones before it are skipped, as HTTP/1.1 asks of a client. */
  async #readFinalHead(): Promise<ResponseHead> {
    let budget = MAX_HEAD_BYTES;
    for (;;) {
      const { head, size } = await this.#readHead(budget);
      budget -= size;
      if (!isInterim(head)) return head;
      if (head.status === 101) throw new BackendError("stdio server: answer 101 Switching Protocols to a request that asked for no upgrade");
    }
  }

  /** The next response head, at most `budget` bytes with its blank line. */
  async #readHead(budget: number): Promise<{ head: ResponseHead; size: number }> {
    let end = this.#pending.indexOf(HEAD_END);
    while (end < 0) {
      if (this.#pending.length >= budget) throw this.#headTooLarge();
      const chunk = await this.#more();
      if (!chunk) {
        const where = this.#pending.length === 0 ? "reading status line" : "reading headers";
        throw await this.#gone(`EOF while ${where}`);
      }
      // Only the bytes that could complete the blank line are searched again.
      const from = Math.max(0, this.#pending.length - (HEAD_END.length - 1));
      this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
      end = this.#pending.indexOf(HEAD_END, from);
    }
    const size = end + HEAD_END.length;
    if (size > budget) throw this.#headTooLarge();
    const head = parseResponseHead(this.#pending.subarray(0, end).toString("latin1"));
    this.#pending = this.#pending.subarray(size);
    return { head, size };
  }

  #headTooLarge(): BackendError {
    return new BackendError(`stdio server: response head larger than ${MAX_HEAD_BYTES} bytes`);
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
      try {
        // A consumer that stopped early leaves bytes behind; skip them so the stream stays in sync.
        // A child that stalls meanwhile is killed: the next request finds the connection lost.
        while (left > 0) {
          if (this.#pending.length === 0) {
            const chunk = await this.#more().catch(() => undefined);
            if (!chunk) break;
            this.#pending = chunk;
          }
          const skip = Math.min(left, this.#pending.length);
          this.#pending = this.#pending.subarray(skip);
          left -= skip;
        }
      } finally {
        release();
      }
    }
  }

  /**
   * Lets the exchanges already asked for finish, then ends the child's stdin and waits for it to
   * exit, both within the timeout (then the child is killed, and requests still waiting for their
   * turn, say behind a body nobody reads, fail). A non-zero exit code is an error carrying the
   * child's last stderr lines.
   */
  async close(): Promise<void> {
    this.#closing = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), this.#timeout);
    });
    await Promise.race([this.#turn, late]);
    this.#closed = true;
    this.#openGate();
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
    // Requests waiting for their turn (perhaps behind a body nobody reads) fail now, as a lost connection.
    this.#openGate();
    this.#child.stdin.destroy();
    if (this.#exitCode === undefined) this.#child.kill("SIGKILL");
  }
}
