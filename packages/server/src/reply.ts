import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { SizedByteSource } from "@borgstore/core";
import { HEADERS, formatServerFeatures } from "@borgstore/core/rest-protocol";
import { errorPageHtml, reasonPhrase, standardReason } from "./error-page.js";

/**
 * Writes responses straight to Node's ServerResponse: header names keep the exact casing the
 * Python client reads case-sensitively (X-BorgStore-Is-Directory, X-BorgStore-Atime,
 * Content-Length), which a fetch `Response` would lowercase, and bodies go out without copies.
 */

export const CACHE_CONTROL = "no-store, no-cache, must-revalidate, max-age=0";

/**
 * Sent on every response, so clients can tell this server from the Python reference, which
 * breaks under concurrent requests (docs/rest-protocol.md#feature-negotiation) and stores a truncated upload whose body ended
 * early: `concurrent-requests` (requests may overlap), `verified-uploads` (a store is kept only
 * when its body arrived whole, at its Content-Length, even without a hash header).
 */
export const FEATURES_HEADER = HEADERS.features;
/** Value of the FEATURES_HEADER this server sends on every response. */
export const SERVER_FEATURES = formatServerFeatures({ concurrentRequests: true, verifiedUploads: true });

/** The Content-Length each response was written with (Node keeps no readable copy of headers given to writeHead). */
const announcedLengths = new WeakMap<ServerResponse, number>();

/** The Content-Length `res` was answered with by this module, if it was. */
export function announcedLength(res: ServerResponse): number | undefined {
  return announcedLengths.get(res);
}

/**
 * Writes the status line and every header at once, the features header among them. All at once:
 * a header set beforehand (setHeader) sends Node's writeHead down its slow path, which validates
 * and copies every header one by one (~5 µs of a 1 KiB request's ~75 µs).
 */
function writeHead(res: ServerResponse, status: number, reason: string, headers: OutgoingHttpHeaders): void {
  headers[FEATURES_HEADER] = SERVER_FEATURES;
  announcedLengths.set(res, Number(headers["Content-Length"] ?? 0));
  res.writeHead(status, reason, headers);
}

/** One request being answered: what a router or operation writes its answer through. */
export interface ReplyContext {
  /** The request. */
  incoming: IncomingMessage;
  /** Its response. */
  outgoing: ServerResponse;
  /** Stdio: one stream for the whole session, so error pages must not close it. */
  keepStreamOpen: boolean;
  /** Fires when the connection is gone before the response was sent (see request-signal.ts). */
  signal: AbortSignal;
  /** Set when the request was refused before its body was read (a 403 on upload): no drain. */
  bodyRefused?: boolean;
  /** The user's bandwidth (hosting mode's fair share): bodies move only as fast as it allows. */
  pace?: BodyPace;
}

/** Waits until `bytes` more of a body may move, in or out (a token bucket). */
export interface BodyPace {
  /** Before `bytes` of the request body are handed on. */
  received(bytes: number): Promise<void>;
  /** Before `bytes` of the response body are written. */
  sending(bytes: number): Promise<void>;
}

/**
 * The request body as an operation reads it: the request itself, or paced by `ctx.pace` (read from
 * the socket only as fast as the pace lets it on: the socket's backpressure holds the client back).
 */
export function requestBody(ctx: ReplyContext): Readable {
  const { pace, incoming } = ctx;
  if (!pace) return incoming;
  return Readable.from(
    (async function* () {
      for await (const chunk of incoming) {
        await pace.received((chunk as Buffer).byteLength);
        yield chunk as Buffer;
      }
    })(),
    { objectMode: false },
  );
}

/** Largest write of a paced response: the pace is asked for each. */
const PACED_PIECE = 64 * 1024;

/** `bytes` in pieces, each written once the pace allows (and the socket took the one before). */
async function* pacedPieces(bytes: Uint8Array, pace: BodyPace): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += PACED_PIECE) {
    const piece = bytes.subarray(at, at + PACED_PIECE);
    await pace.sending(piece.byteLength);
    yield piece;
  }
}

/** A 200-family reply from the reference's `respond` path: Cache-Control, Content-Length always. */
export function sendBody(
  ctx: ReplyContext,
  status: number,
  body: Uint8Array | string | undefined,
  contentType?: string,
  extraHeaders?: OutgoingHttpHeaders,
): void {
  const bytes = typeof body === "string" ? Buffer.from(body, "latin1") : body;
  const headers: OutgoingHttpHeaders = {};
  if (contentType) headers["Content-Type"] = contentType;
  headers["Cache-Control"] = CACHE_CONTROL;
  if (extraHeaders) Object.assign(headers, extraHeaders);
  headers["Content-Length"] = bytes ? bytes.byteLength : 0;
  writeHead(ctx.outgoing, status, reasonFor(status), headers);
  if (bytes && bytes.byteLength > 0 && ctx.incoming.method !== "HEAD") {
    if (ctx.pace) void pipeline(pacedPieces(bytes, ctx.pace), ctx.outgoing, { signal: ctx.signal }).catch(() => ctx.outgoing.destroy());
    else ctx.outgoing.end(bytes);
  } else ctx.outgoing.end();
}

function reasonFor(status: number): string {
  return status === 200 ? "OK" : status === 206 ? "Partial Content" : standardReason(status);
}

/** HEAD reply: headers describe the object, no body follows. */
export function sendHead(ctx: ReplyContext, headers: OutgoingHttpHeaders): void {
  writeHead(ctx.outgoing, 200, "OK", { "Cache-Control": CACHE_CONTROL, ...headers });
  ctx.outgoing.end();
}

/**
 * Streams `source` as the body, its announced size as Content-Length. A source that fails, or
 * delivers any other count, destroys the connection: the client sees a cut body, never a complete
 * reply holding other bytes.
 */
export async function sendStream(
  ctx: ReplyContext,
  status: number,
  source: SizedByteSource,
  contentType: string,
  extraHeaders?: OutgoingHttpHeaders,
): Promise<void> {
  const length = source.size;
  writeHead(ctx.outgoing, status, reasonFor(status), {
    "Content-Type": contentType,
    "Cache-Control": CACHE_CONTROL,
    ...extraHeaders,
    "Content-Length": length,
  });
  let sent = 0;
  const { pace } = ctx;
  // Core's loadStream already enforces the size; checked again here as this is what frames the reply.
  async function* checked(): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      sent += chunk.byteLength;
      if (sent > length) throw new Error("the value delivered more bytes than its size");
      if (pace) yield* pacedPieces(chunk, pace);
      else yield chunk;
    }
    if (sent !== length) throw new Error("the value delivered fewer bytes than its size");
  }
  try {
    // Under the signal: a response that never reaches the connection (queued behind one that
    // closed it) would otherwise wait for 'drain' forever, holding the open value.
    await pipeline(checked(), ctx.outgoing, { signal: ctx.signal });
  } catch {
    ctx.outgoing.destroy();
  }
}

/**
 * An error page (docs/rest-protocol.md#error-pages): reason = message, Connection: close, HTML body (omitted for HEAD).
 * Answered at once: a body still arriving is not waited for (a client trickling it would hold
 * the connection at its pace).
 */
export async function sendErrorPage(
  ctx: ReplyContext,
  status: number,
  message: string,
  extraHeaders?: OutgoingHttpHeaders,
): Promise<void> {
  const { incoming, outgoing } = ctx;
  if (outgoing.headersSent) {
    outgoing.destroy();
    return;
  }
  // 411/413 refuse the body itself: no point reading it.
  if (!ctx.keepStreamOpen && status !== 411 && status !== 413 && !ctx.bodyRefused) await discardArrivedBody(incoming);
  const html = Buffer.from(errorPageHtml(status, message), "utf8");
  const headers: OutgoingHttpHeaders = { ...extraHeaders };
  if (!ctx.keepStreamOpen) headers.Connection = "close";
  headers["Content-Type"] = "text/html;charset=utf-8";
  headers["Content-Length"] = html.byteLength;
  writeHead(outgoing, status, reasonPhrase(message, status), headers);
  if (incoming.method === "HEAD") outgoing.end();
  else outgoing.end(html);
}

/**
 * The reference's 401: short plain body, answered at once. The connection stays open only when
 * the request's body arrived with it (see discardArrivedBody): a client that trickles it would
 * otherwise hold the connection while Node skips the rest at the client's pace.
 */
export async function sendUnauthorized(ctx: ReplyContext): Promise<void> {
  const body = Buffer.from("Unauthorized");
  const headers: OutgoingHttpHeaders = {
    "Cache-Control": CACHE_CONTROL,
    "WWW-Authenticate": 'Basic realm="BorgStore REST Server"',
    "Content-Length": body.byteLength,
  };
  if (!ctx.keepStreamOpen && !(await discardArrivedBody(ctx.incoming))) headers.Connection = "close";
  if (ctx.outgoing.destroyed) return;
  writeHead(ctx.outgoing, 401, "Unauthorized", headers);
  ctx.outgoing.end(ctx.incoming.method === "HEAD" ? undefined : body);
}

/**
 * Bytes a client sent along with its headers are parsed within a few milliseconds; a body not
 * complete by then is one the client is still sending, and it is not waited for.
 */
const ARRIVED_GRACE_MS = 100;

/**
 * Discards the request body if it arrives whole within ARRIVED_GRACE_MS (true: the connection is
 * in step for a next request); false for one that does not.
 */
function discardArrivedBody(incoming: IncomingMessage): Promise<boolean> {
  if (incoming.complete) {
    incoming.resume();
    return Promise.resolve(true);
  }
  if (incoming.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      incoming.off("end", done);
      incoming.off("error", done);
      incoming.off("close", done);
      resolve(incoming.complete);
    };
    const timer = setTimeout(done, ARRIVED_GRACE_MS);
    incoming.on("end", done);
    incoming.on("error", done);
    incoming.on("close", done);
    incoming.resume();
  });
}
