import type { Readable } from "node:stream";
import { isConnectionLost } from "@borgstore/core/backend";
import { Agent, type Dispatcher } from "undici";

/** The SDK's request, as its middleware hands it to the request handler (the fields used here). */
interface SdkHttpRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** The settings of {@link UndiciRequestHandler}'s connection pool. */
export interface UndiciHandlerOptions {
  /** Connections open at once per host (each a keep-alive connection). */
  maxSockets: number;
  connectTimeoutMs: number;
  /** Longest silence while waiting for the answer's headers or the next piece of its body. */
  idleTimeoutMs: number;
}

/**
 * The AWS SDK's HTTP handler on undici instead of node:http: one keep-alive pool per host that
 * the per-item requests (ObjectClient) share with every other request, so `maxSockets` bounds them all. undici
 * reads a 4 MiB answer of radosgw with a quarter of node:http's CPU (scripts/bench/http-get-microbench.mjs).
 * Network failures are passed on shaped as the SDK's retry strategy knows them (codes ECONNRESET
 * …, name TimeoutError), so it retries them as it would node:http's.
 */
export class UndiciRequestHandler {
  /** What the SDK asks of a handler: it speaks HTTP/1.1. */
  readonly metadata = { handlerProtocol: "http/1.1" };
  /** The pool of connections, per host. */
  readonly agent: Agent;

  constructor(options: UndiciHandlerOptions) {
    this.agent = new Agent({
      connections: options.maxSockets,
      connectTimeout: options.connectTimeoutMs,
      headersTimeout: options.idleTimeoutMs,
      bodyTimeout: options.idleTimeoutMs,
    });
  }

  async handle(request: SdkHttpRequest, options: { abortSignal?: AbortSignal } = {}) {
    const origin = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ""}`;
    const query = queryString(request.query);
    const headers = { ...request.headers };
    // undici refuses to send Expect (no 100-continue support); the SDK adds it to large PUTs only
    // to learn of an error before the body, which a failed PUT then reports all the same.
    for (const name of Object.keys(headers)) if (name.toLowerCase() === "expect") delete headers[name];
    let res: Dispatcher.ResponseData;
    try {
      res = await this.agent.request({
        origin,
        method: request.method as Dispatcher.HttpMethod,
        path: query ? `${request.path}?${query}` : request.path,
        headers,
        body: request.body as Readable | Uint8Array | string | undefined,
        signal: options.abortSignal,
      });
    } catch (err) {
      throw asSdkNetworkError(err);
    }
    return { response: { statusCode: res.statusCode, reason: "", headers: flatHeaders(res.headers), body: res.body } };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    this.agent.destroy().catch(() => undefined);
  }
}

/** The SDK's query parameters as a query string (null: a bare key, as in `?uploads`). */
function queryString(query: SdkHttpRequest["query"]): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    const k = encodeRfc3986(key);
    if (value === null || value === undefined) parts.push(k);
    else for (const v of Array.isArray(value) ? value : [value]) parts.push(`${k}=${encodeRfc3986(v)}`);
  }
  return parts.join("&");
}

/** encodeURIComponent that also encodes !'()* (the SDK's encoding, which signatures cover). */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function flatHeaders(headers: Dispatcher.ResponseData["headers"]): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
  return flat;
}

/** undici's network failures under the names the SDK retries (and toBackendError reports as connection errors). */
function asSdkNetworkError(err: unknown): unknown {
  if (!isConnectionLost(err)) return err;
  const code = (err as { code?: string }).code ?? "";
  const wrapped = new Error((err as Error).message, { cause: err });
  if (code.endsWith("TIMEOUT")) wrapped.name = "TimeoutError";
  return Object.assign(wrapped, { code: code.startsWith("UND_ERR") ? "ECONNRESET" : code });
}
