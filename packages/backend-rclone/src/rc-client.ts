import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { ByteSource } from "@borgstore/core";
import { isConnectionLost, withRetry } from "@borgstore/core/backend";
import { Pool } from "undici";
import type { Dispatcher } from "undici";

/** rclone answered an rc call or a served-file request with an error status. */
export class RcloneCallFailed extends Error {
  constructor(
    readonly what: string,
    readonly status: number,
    readonly rcloneError: string,
  ) {
    super(`rclone ${what} failed: HTTP ${status}: ${rcloneError}`);
    this.name = "RcloneCallFailed";
  }
}

export interface RcClientOptions {
  /** Connections to rcd kept open and reused (keep-alive): the number of operations in flight. */
  connections: number;
  /** Attempts per retryable operation (first try included). */
  tries: number;
  /** First pause before a retry; each further pause is 4× longer (with jitter). */
  backoffMs: number;
  /** Longest wait for response headers, and for each piece of a body. */
  timeoutMs: number;
}

export interface CallOptions {
  /** Retry transient failures (default true). Off for requests whose body cannot be replayed. */
  retry?: boolean;
  /** A 404 after a retry means the first attempt did succeed (delete, move): return normally. */
  notFoundOnRetryIsDone?: boolean;
  /** Stops the request and its retries (ABORTED): a caller's load gave up. */
  signal?: AbortSignal | undefined;
}


/** rclone reports these with status 500 too, but asking again cannot change the answer. */
const PERMANENT_500 =
  /not a directory|is a directory|directory not empty|not empty|unknown hash|not found|no such file|invalid|not supported|doesn't support|permission denied|file exists|rename failed/i;

/** rclone's answers that asking again may change: HTTP 500/502/503/504 (backend, protocol or network trouble). */
function isTransientAnswer(err: unknown): boolean {
  if (!(err instanceof RcloneCallFailed)) return false;
  return (err.status === 500 && !PERMANENT_500.test(err.rcloneError)) || [502, 503, 504].includes(err.status);
}

/** True for rclone's transient failures: its transient answers and lost connections. */
export function isTransient(err: unknown): boolean {
  return isTransientAnswer(err) || isConnectionLost(err);
}

/** Encodes an rclone fs spec for the `[fs]` part of an rc-serve path, leaving its readable separators. */
function encodeFs(fs: string): string {
  return encodeURIComponent(`[${fs}]`).replace(/%2F/gi, "/").replace(/%3A/gi, ":").replace(/%2C/gi, ",").replace(/%3D/gi, "=");
}

function encodeName(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

/** Bodies up to this size are sent in one write; larger ones as head, value, tail without a copy. */
const COALESCE_LIMIT = 256 * 1024;

/**
 * Talks to one running rcd over a pool of keep-alive connections: rc commands (JSON in, JSON
 * out), multipart uploads (operations/uploadfile) and ranged reads of served files (--rc-serve).
 */
export class RcClient {
  readonly #pool: Pool;
  /**
   * Served files have connections of their own: a read holds its reply open while it stats the
   * name again (see RcloneBackend #read), and must never wait for a connection held by such a read.
   */
  readonly #servePool: Pool;
  readonly #authorization: string;
  readonly #options: RcClientOptions;

  constructor(rcd: { origin: string; user: string; password: string }, options: RcClientOptions) {
    this.#options = options;
    this.#authorization = `Basic ${Buffer.from(`${rcd.user}:${rcd.password}`).toString("base64")}`;
    const poolOptions = {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    };
    this.#pool = new Pool(rcd.origin, poolOptions);
    this.#servePool = new Pool(rcd.origin, poolOptions);
  }

  /** Runs an rc command such as operations/list and returns its JSON reply. */
  async call<T = Record<string, unknown>>(command: string, params: object, options: CallOptions = {}): Promise<T> {
    const body = JSON.stringify(params);
    return this.#withRetries(options, async () => {
      const res = await this.#pool.request({
        method: "POST",
        path: `/${command}`,
        headers: { authorization: this.#authorization, "content-type": "application/json" },
        body,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new RcloneCallFailed(command, res.statusCode, rcloneErrorText(text));
      return (text ? JSON.parse(text) : {}) as T;
    });
  }

  /**
   * Uploads one file `filename` into directory `dir` of `fs` (operations/uploadfile, multipart).
   * A byte array is retried on transient failures; a stream cannot be replayed and is sent once.
   * `size` (for streams) lets the request carry a Content-Length instead of chunked encoding;
   * `config` overrides rclone options for this call (rc's `_config`).
   */
  async upload(
    fs: string,
    dir: string,
    filename: string,
    value: Uint8Array | ByteSource,
    options: { size?: number; config?: object } = {},
  ): Promise<void> {
    const { size, config } = options;
    const boundary = `borgstore-${randomBytes(12).toString("hex")}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
        "Content-Type: application/octet-stream\r\n\r\n",
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const query = new URLSearchParams({ fs, remote: dir });
    if (config) query.set("_config", JSON.stringify(config));
    const headers: Record<string, string> = {
      authorization: this.#authorization,
      "content-type": `multipart/form-data; boundary=${boundary}`,
    };
    const replayable = value instanceof Uint8Array;
    const length = replayable ? value.byteLength : size;
    if (length !== undefined) headers["content-length"] = String(head.length + length + tail.length);
    const body = () => {
      if (replayable && value.byteLength <= COALESCE_LIMIT) return Buffer.concat([head, value, tail]);
      const parts = async function* () {
        yield head;
        if (replayable) yield value;
        else for await (const chunk of value) yield chunk;
        yield tail;
      };
      return Readable.from(parts(), { objectMode: false });
    };
    await this.#withRetries({ retry: replayable }, async () => {
      const res = await this.#pool.request({ method: "POST", path: `/operations/uploadfile?${query}`, headers, body: body() });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new RcloneCallFailed("operations/uploadfile", res.statusCode, rcloneErrorText(text));
    });
  }

  /**
   * GETs a file through rcd's file serving, optionally with a Range header. Resolves once the
   * status is known (404 and other errors throw RcloneCallFailed); the caller consumes the body,
   * of which up to `bufferBytes` may be buffered ahead of the consumer.
   */
  async serve(fs: string, name: string, range?: string, bufferBytes = 1024 * 1024, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { authorization: this.#authorization };
    if (range) headers.range = range;
    const path = `/${encodeFs(fs)}/${encodeName(name)}`;
    return this.#withRetries({ signal }, async () => {
      // A body buffer larger than the default 64 KiB lets big values arrive in fewer, larger
      // pieces: measured at 40% less CPU for a 4 MiB load.
      const res = await this.#servePool.request({ method: "GET", path, headers, highWaterMark: bufferBytes, signal });
      if (res.statusCode === 200 || res.statusCode === 206) return res;
      const text = await res.body.text();
      throw new RcloneCallFailed(`serving ${name}`, res.statusCode, rcloneErrorText(text));
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.#pool.destroy(), this.#servePool.destroy()]);
  }

  async #withRetries<T>(options: CallOptions, attempt: () => Promise<T>): Promise<T> {
    const { backoffMs } = this.#options;
    const result = await withRetry(attempt, {
      backend: "rclone",
      retries: options.retry === false ? 0 : Math.max(1, this.#options.tries) - 1,
      delay: (retry) => backoffMs * 4 ** (retry - 1) * (0.5 + Math.random()),
      isTransient: isTransientAnswer,
      notFoundOnRetryIsDone: options.notFoundOnRetryIsDone,
      isNotFound: (err) => err instanceof RcloneCallFailed && err.status === 404,
      signal: options.signal,
    });
    return result as T;
  }
}

/** The `error` field of rclone's JSON error reply, or the raw text. */
function rcloneErrorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 500);
}
