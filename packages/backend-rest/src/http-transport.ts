import { BackendError, type ByteSource } from "@borgstore/core";
import type { Readable } from "node:stream";
import { type Dispatcher, Pool } from "undici";
import { MEDIA_TYPE } from "@borgstore/core/rest-protocol";
import { toBackendError } from "./errors.js";
import { type RestRequest, type RestResponse, type Transport, bodyLength } from "./transport.js";
import type { HttpTarget } from "./url.js";

export interface HttpTransportOptions {
  /** Connections (= requests in flight) to the server. */
  concurrency: number;
  /**
   * Connect timeout and the longest silence while waiting for headers or body bytes, in ms; also how
   * long a response body may go unread while other requests wait for a connection.
   */
  timeout: number;
}

/**
 * HTTP/1.1 over TCP (or TLS) with a keep-alive pool of `concurrency` connections, one request in
 * flight per connection (pipelining is off: the reference server closes connections after errors).
 */
export class HttpTransport implements Transport {
  /** undici replaces a broken connection of the pool by itself; the other requests in flight go on. */
  readonly replacesLostConnections = true;
  readonly #pool: Pool;
  readonly #timeout: number;
  readonly #basePath: string;
  readonly #headers: Record<string, string>;

  constructor(target: HttpTarget, options: HttpTransportOptions) {
    this.#basePath = target.basePath;
    this.#timeout = options.timeout;
    this.#headers = { accept: MEDIA_TYPE };
    if (target.auth) {
      // UTF-8 (RFC 7617's charset): what our server and the reference server both decode.
      const token = Buffer.from(`${target.auth.username}:${target.auth.password}`, "utf8").toString("base64");
      this.#headers.authorization = `Basic ${token}`;
    }
    this.#pool = new Pool(target.origin, {
      connections: options.concurrency,
      pipelining: 1,
      connectTimeout: options.timeout,
      headersTimeout: options.timeout,
      bodyTimeout: options.timeout,
    });
  }

  async request(req: RestRequest): Promise<RestResponse> {
    const headers: Record<string, string> = { ...this.#headers, ...req.headers };
    // Content-Length on every POST (0 without a body), never chunked (docs/rest-protocol.md#requests); undici drops
    // a zero one on DELETE, which the servers do not read a body for anyway.
    if (req.method === "POST" || req.method === "DELETE" || req.body !== undefined)
      headers["content-length"] = String(bodyLength(req.body));
    const body = req.body === undefined ? undefined : req.body instanceof Uint8Array ? req.body : req.body.source;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#pool.request({
        method: req.method,
        path: this.#basePath + req.target,
        headers,
        // undici closes the connection after every HEAD (for servers that wrongly send a body);
        // borgstore servers send none, and info() is frequent: keep the connection.
        reset: req.method === "HEAD" ? false : undefined,
        // undici sends async iterables as they come (its typings list only Readable).
        body: body as Uint8Array | Readable | undefined,
        signal: req.signal,
      });
    } catch (err) {
      throw toBackendError(err, `${req.method} ${req.target} failed`);
    }
    const what = `${req.method} ${req.target}: reading response body`;
    const responseHeaders: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(res.headers)) responseHeaders[k] = Array.isArray(v) ? v.join(", ") : v;
    const raw = res.body;
    const watch = watchUnread(raw, this.#timeout, () => this.#pool.stats.pending > 0, what);
    return {
      status: res.statusCode,
      headers: responseHeaders,
      body: mapErrors(raw, what, watch),
      async bytes() {
        watch.stop();
        try {
          const length = knownLength(responseHeaders["content-length"]);
          if (length === undefined || length <= ONE_CHUNK || length > PREALLOCATE_LIMIT) return new Uint8Array(await raw.arrayBuffer());
          return await collectInto(raw, length);
        } catch (err) {
          throw toBackendError(err, what);
        }
      },
      async text() {
        watch.stop();
        try {
          return await raw.text();
        } catch (err) {
          throw toBackendError(err, what);
        }
      },
      async discard() {
        watch.stop();
        await raw.dump().catch(() => undefined);
      },
    };
  }

  destroy(): void {
    this.#pool.destroy().catch(() => undefined);
  }

  /** Waits briefly for requests still running (e.g. an unread load stream), then cuts them off. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const patience = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), 1000);
    });
    const outcome = await Promise.race([this.#pool.close().catch(() => "late" as const), patience]);
    clearTimeout(timer);
    if (outcome === "late") await this.#pool.destroy().catch(() => undefined);
  }
}

/** Bodies up to this size arrive in one socket read: undici's own collection is cheapest. */
const ONE_CHUNK = 16 * 1024;
/** A larger announced length is not trusted with an allocation before its bytes arrive. */
const PREALLOCATE_LIMIT = 256 * 1024 * 1024;

function knownLength(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header)) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) ? length : undefined;
}

/**
 * Reads a body of the announced `length` into one buffer allocated up front (not zero-filled:
 * every byte is written or the result is cut to what came). Each chunk is copied as it arrives,
 * so the socket's chunks die young instead of piling up until the end for one big concat.
 * undici checks the count against Content-Length; more than announced is still kept.
 */
async function collectInto(body: AsyncIterable<Uint8Array>, length: number): Promise<Uint8Array> {
  let value = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
  let received = 0;
  for await (const chunk of body) {
    if (received + chunk.byteLength > value.byteLength) {
      const capacity = Math.max(received + chunk.byteLength, value.byteLength * 2);
      const grown = new Uint8Array(Buffer.allocUnsafeSlow(capacity).buffer, 0, capacity);
      grown.set(value.subarray(0, received));
      value = grown;
    }
    value.set(chunk, received);
    received += chunk.byteLength;
  }
  return received === value.byteLength ? value : value.subarray(0, received);
}

async function* mapErrors(source: AsyncIterable<Uint8Array>, what: string, watch: UnreadWatch): ByteSource {
  try {
    watch.reading(true);
    for await (const chunk of source) {
      watch.reading(false);
      yield chunk;
      watch.reading(true);
    }
  } catch (err) {
    throw toBackendError(err, what);
  } finally {
    watch.stop();
  }
}

/** Tells a response body's watch whether its consumer is waiting for bytes. */
interface UnreadWatch {
  reading(waiting: boolean): void;
  stop(): void;
}

/**
 * Gives up `body` once its consumer left it unread for `timeout` ms while other requests wait for a
 * connection (`othersWaiting`): a load stream the caller never reads holds its connection, and with
 * one request at a time (the reference server) every later request would wait for ever. The
 * connection is closed; reading the body afterwards fails with a BackendError. A slow consumer
 * that blocks no one is left alone, and so is one waiting for bytes (the body timeout covers that).
 */
function watchUnread(body: Readable, timeout: number, othersWaiting: () => boolean, what: string): UnreadWatch {
  let waiting = false;
  let stopped = false;
  const check = () => {
    if (waiting || !othersWaiting()) return void timer.refresh();
    body.destroy(new BackendError(`${what}: given up after ${timeout} ms unread while other requests waited for its connection`));
  };
  const timer = setTimeout(check, timeout).unref();
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  body.once("close", stop);
  return {
    reading(now) {
      waiting = now;
      if (!now && !stopped) timer.refresh();
    },
    stop,
  };
}
