import { BackendConnectionError, InvalidArgument } from "@borgstore/core";
import { withRetry } from "@borgstore/core/backend";
import { ServerBusy, toBackendError } from "./errors.js";
import { type DavEntry, parseMultistatus } from "./multistatus.js";
import type { WebdavLocation } from "./url.js";

export interface DavRequest {
  method: string;
  /** Path below the base collection, already percent-encoded; "" is the base itself. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
}

/** Statuses a caller handles itself; any other non-2xx becomes an error here. */
export type Expected = readonly number[];

/** The statuses a request asks again, each with how many tries it gets in all. */
export type Retried = Readonly<Record<number, number>>;

/**
 * 423 Locked is a server's own lock on a resource another request is changing right now
 * (golang.org/x/net/webdav locks both ends of a MOVE): asked again for some 5 s in all.
 */
const LOCKED: Retried = { 423: 120 };

/**
 * A PROPFIND the server answers 500 is asked again too. golang.org/x/net/webdav (rclone serve
 * webdav) finds the resource, then opens it to read its properties: a MOVE replacing it in between
 * makes that open fail, and the whole PROPFIND is a 500. A PROPFIND changes nothing.
 */
const PROPFIND_RETRIED: Retried = { ...LOCKED, 500: 5 };

/** The pause before try `retry + 1` of a status in `Retried`: 2 ms more each time, at most 50 (jittered by ×0.5 to ×1.5). */
function pauseBefore(retry: number): number {
  return Math.min(50, retry * 2) * (0.5 + Math.random());
}

const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/></D:prop></D:propfind>';

/** HTTP requests to one WebDAV collection, with its credentials, mapped onto borgstore's errors. */
export class WebdavClient {
  readonly baseUrl: string;
  readonly #authorization: string | undefined;

  constructor(location: WebdavLocation) {
    let parsed: URL;
    try {
      parsed = new URL(location.baseUrl);
    } catch {
      throw new InvalidArgument("baseUrl is not a URL");
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new InvalidArgument("baseUrl must be an http(s) URL");
    if (parsed.username || parsed.password) throw new InvalidArgument("baseUrl must not carry credentials: give username and password");
    // destroy() deletes the whole collection: never the server's root (a share other data may live in).
    if (parsed.pathname === "/" || parsed.pathname === "")
      throw new InvalidArgument("a WebDAV store needs its own collection below the server's root, e.g. http://host/backups/repo1/");
    this.baseUrl = parsed.href.endsWith("/") ? parsed.href : `${parsed.href}/`;
    this.#authorization =
      location.username === undefined
        ? undefined
        : `Basic ${Buffer.from(`${location.username}:${location.password ?? ""}`).toString("base64")}`;
  }

  url(path: string): string {
    return this.baseUrl + path;
  }

  /**
   * Sends one request; a status outside 2xx and `expected` throws (its body is discarded). A
   * status in `retried` (by default 423 Locked) is asked again after a short pause, as long as the
   * request's body can be sent again: the kit's withRetry, with such an answer as its transient
   * failure. A lost connection is not asked again here: the request may have been carried out.
   */
  async request(req: DavRequest, expected: Expected = [], retried: Retried = LOCKED): Promise<Response> {
    const repeatable = req.body === undefined || req.body instanceof Uint8Array;
    const accepted = [...expected, ...Object.keys(retried).map(Number)];
    const answers = new Map<number, number>();
    const attempt = async () => {
      const res = await this.#send(req, accepted);
      const tries = expected.includes(res.status) ? undefined : retried[res.status];
      if (tries === undefined) return res;
      await res.body?.cancel().catch(() => {});
      const answered = (answers.get(res.status) ?? 0) + 1;
      answers.set(res.status, answered);
      const error = toBackendError(res.status, req.method, this.url(req.path));
      throw answered < tries ? new ServerBusy(error.message) : error;
    };
    const res = await withRetry(attempt, {
      backend: "webdav",
      retries: repeatable ? Object.values(retried).reduce((sum, tries) => sum + tries - 1, 0) : 0,
      delay: pauseBefore,
      isConnectionLost: () => false,
      isTransient: (err) => err instanceof ServerBusy,
      signal: req.signal,
    });
    return res as Response;
  }

  async #send(req: DavRequest, expected: Expected): Promise<Response> {
    const headers: Record<string, string> = { ...req.headers };
    if (this.#authorization) headers.authorization = this.#authorization;
    let res: Response;
    try {
      res = await fetch(this.url(req.path), {
        method: req.method,
        headers,
        body: req.body as RequestInit["body"],
        signal: req.signal,
        // Streamed request bodies need half duplex (Node's fetch refuses them otherwise).
        ...(req.body && !(req.body instanceof Uint8Array) ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (err) {
      if (req.signal?.aborted) throw err;
      const cause = (err as { cause?: { message?: string } }).cause;
      throw new BackendConnectionError(`WebDAV ${req.method} ${this.url(req.path)}: ${cause?.message ?? String(err)}`, {
        cause: err,
      });
    }
    if ((res.status >= 200 && res.status < 300) || expected.includes(res.status)) return res;
    await res.body?.cancel().catch(() => {});
    throw toBackendError(res.status, req.method, this.url(req.path));
  }

  /** PROPFIND with Depth 0 or 1; undefined for 404. */
  async propfind(path: string, depth: 0 | 1, signal?: AbortSignal): Promise<DavEntry[] | undefined> {
    const req = { method: "PROPFIND", path, headers: { depth: String(depth), "content-type": "application/xml" }, body: enc(PROPFIND_BODY), signal };
    const res = await this.request(req, [404], PROPFIND_RETRIED);
    if (res.status === 404) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    return parseMultistatus(await res.text());
  }
}

function enc(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
