import { setTimeout as delay } from "node:timers/promises";
import { BackendConnectionError, InvalidArgument } from "@borgstore/core";
import { toBackendError } from "./errors.js";
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

/** Attempts of a request the server answers 423 Locked (some 5 s in all). */
const LOCKED_TRIES = 120;

/**
 * Attempts of a PROPFIND the server answers 500. golang.org/x/net/webdav (rclone serve webdav)
 * finds the resource, then opens it to read its properties: a MOVE replacing it in between makes
 * that open fail, and the whole PROPFIND is a 500. A PROPFIND changes nothing, so it is asked again.
 */
const PROPFIND_TRIES = 5;

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
   * Sends one request; a status outside 2xx and `expected` throws (its body is discarded).
   * 423 Locked is a server's own lock on a resource another request is changing right now
   * (golang.org/x/net/webdav locks both ends of a MOVE): a request whose body can be sent again
   * is retried after a short pause.
   */
  async request(req: DavRequest, expected: Expected = []): Promise<Response> {
    const repeatable = req.body === undefined || req.body instanceof Uint8Array;
    for (let attempt = 1; ; attempt++) {
      const res = await this.#send(req, expected.includes(423) ? expected : [...expected, 423]);
      if (res.status !== 423 || expected.includes(423)) return res;
      await res.body?.cancel().catch(() => {});
      if (!repeatable || attempt >= LOCKED_TRIES) throw toBackendError(423, req.method, this.url(req.path));
      await delay(Math.min(50, attempt * 2) * (0.5 + Math.random()), undefined, { signal: req.signal });
    }
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
    let res = await this.request(req, [404, 500]);
    for (let attempt = 1; res.status === 500; attempt++) {
      await res.body?.cancel().catch(() => {});
      if (attempt >= PROPFIND_TRIES) throw toBackendError(500, req.method, this.url(path));
      await delay(attempt * 5 * (0.5 + Math.random()), undefined, { signal });
      res = await this.request(req, [404, 500]);
    }
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
