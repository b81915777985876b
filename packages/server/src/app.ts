import type { IncomingMessage, ServerResponse } from "node:http";
import { type Backend, ErrorCodes, isBorgStoreError } from "@borgstore/core";
import { MEDIA_TYPE } from "@borgstore/core/rest-protocol";
import { type Credentials, basicUserName, checkCredentials, isAuthorized } from "./auth.js";
import { BackendHost } from "./backend-host.js";
import { errorReply } from "./error-status.js";
import { HttpError } from "./http-error.js";
import { BufferPool, MemoryBudget } from "./memory-budget.js";
import { type Operation, del, get, head, post } from "./operations.js";
import { TOO_MANY_HEADERS, tooManyHeaderLines } from "./header-lines.js";
import { type ReplyContext, sendBody, sendErrorPage, sendUnauthorized } from "./reply.js";
import { requestSignal } from "./request-signal.js";
import { type RequestTarget, originFormTarget, parseRequestTarget } from "./request-target.js";

/** The Accept value every request must carry (else 406). */
export const BORGSTORE_MEDIA_TYPE = MEDIA_TYPE;

export { FEATURES_HEADER, SERVER_FEATURES } from "./reply.js";

/** Options of createApp (and, partly, of RestServer). */
export interface AppOptions {
  /**
   * Basic auth. Both parts empty (or none given) = no auth; exactly one empty throws
   * InvalidArgument (the reference would silently run open).
   */
  credentials?: Credentials;
  /** Stores larger than this many bytes get 413. */
  maxObjectSize?: number;
  /** Bytes of values held whole at once, across requests (default 64 MiB); beyond it values stream. */
  wholeBodyBudget?: number;
  /** Stdio mode: the one stream must survive error responses (no Connection: close). */
  keepStreamOpen?: boolean;
  /** Longest a request waits for create/destroy and they for others, then 503 (default 2000 ms). */
  waitLimitMs?: number;
  /** Called with unexpected errors (500s), for the log. */
  onInternalError?: (err: unknown) => void;
  /** Called when a request carried Basic credentials that do not match, with the user name it sent. */
  onFailedLogin?: (incoming: IncomingMessage, sentName: string) => void;
}

const authenticated = new WeakMap<IncomingMessage, string>();

/** The user name a request authenticated as; undefined without auth or before/after a failed check. */
export function authenticatedUser(incoming: IncomingMessage): string | undefined {
  return authenticated.get(incoming);
}

/** A request's store and target, once its credentials and path have been checked. */
export interface RoutedRequest {
  /** The store that serves the request, admitted as the single store's requests are. */
  host: BackendHost;
  /** The request target below the store's root (hosting mode: below `/<user>/<repo>/`). */
  target: RequestTarget;
  /** Who it authenticated as (for the access log). */
  user?: string;
  /** The storage location to redact from its error messages. */
  location?: string;
  /** Called once the request is done (frees what routing reserved for it). */
  done?: () => void;
}

/**
 * Finds the store a request is for, after the method and Accept checks: the single-store mode has
 * one; the hosting mode (hosting/router.ts) has one per user repository.
 */
export interface StoreRouter {
  /**
   * Undefined: no valid credentials (the app answers 401). Other refusals are thrown (HttpError,
   * BorgStoreError). A promise only where routing must wait: a request routed at once takes no turn.
   */
  route(reply: ReplyContext): RoutedRequest | undefined | Promise<RoutedRequest | undefined>;
  /** Closes every store once running requests are done. */
  close(): Promise<void>;
  /**
   * Answers requests that are not the protocol's (a health check) before its checks; true when it
   * did, "unauthorized" when such a request lacks valid credentials (the app answers 401, as to route's undefined).
   */
  answerOwn?(reply: ReplyContext): boolean | "unauthorized" | Promise<boolean | "unauthorized">;
}

/** Answers one request on Node's own request and response (what `http.createServer` calls). */
export type RequestListener = (incoming: IncomingMessage, outgoing: ServerResponse) => Promise<void>;

const HANDLERS: Readonly<Record<string, (op: Operation) => Promise<void>>> = {
  GET: get,
  HEAD: head,
  POST: post,
  DELETE: del,
};

/**
 * The REST protocol of the Python reference as a Node request listener. Handlers write Node's
 * response directly: bodies stream without copies, and header names keep the casing the Python
 * client reads (see the README's design notes). `backend` may be a Backend (opened on first use,
 * kept open) or a BackendHost shared with the caller (who then closes it).
 */
export function createApp(backend: Backend | BackendHost | StoreRouter, options: AppOptions = {}): RequestListener {
  const routedByCaller = isStoreRouter(backend);
  const router = routedByCaller ? backend : undefined;
  // The single store's requests are routed without a promise: no await hop per request.
  const routeSingle = routedByCaller ? undefined : singleStoreRoute(backend, options);
  const budget = new MemoryBudget(options.wholeBodyBudget ?? 64 * 1024 * 1024);
  // Idle upload buffers kept for reuse: a quarter of the budget.
  const pool = new BufferPool(Math.floor(budget.limit / 4));
  const keepStreamOpen = options.keepStreamOpen ?? false;

  // Order of the reference's checks: version (505), header lines (431), method (501, no other check), Accept (406), auth (401).
  async function answer(reply: ReplyContext, routing: { routed?: RoutedRequest }): Promise<void> {
    // Node's parser reads "HTTP/2.0" (or 2.x) in a request line as it reads 1.1.
    if (reply.incoming.httpVersionMajor >= 2) throw new HttpError(505, `Invalid HTTP version (${reply.incoming.httpVersion})`);
    if (tooManyHeaderLines(reply.incoming)) throw new HttpError(TOO_MANY_HEADERS.status, TOO_MANY_HEADERS.message);
    // The single store answers nothing of its own: no call and no await for it.
    if (router?.answerOwn) {
      const answering = router.answerOwn(reply);
      const own = answering instanceof Promise ? await answering : answering;
      if (own === "unauthorized") return refuseLogin(reply);
      if (own) return;
    }
    const method = reply.incoming.method ?? "";
    const handler = Object.hasOwn(HANDLERS, method) ? HANDLERS[method] : undefined;
    if (!handler) throw new HttpError(501, `Unsupported method (${pyRepr(method)})`);
    if (reply.incoming.headers.accept !== BORGSTORE_MEDIA_TYPE)
      throw new HttpError(406, "Not Acceptable: unsupported or missing Accept header");
    const routeOf = routeSingle ? routeSingle(reply) : (router as StoreRouter).route(reply);
    const routed = routeOf instanceof Promise ? await routeOf : routeOf;
    if (!routed) return refuseLogin(reply);
    routing.routed = routed;
    if (routed.user !== undefined) authenticated.set(reply.incoming, routed.user);
    // RestServer leaves `Expect: 100-continue` to a StoreRouter's app: the body is invited only now.
    if (routedByCaller && /^100-continue$/i.test(reply.incoming.headers.expect ?? "")) reply.outgoing.writeContinue();
    const { host, target } = routed;
    await handler({ host, reply, target, maxObjectSize: options.maxObjectSize, budget, pool });
  }

  async function refuseLogin(reply: ReplyContext): Promise<void> {
    const sentName = basicUserName(reply.incoming.headers.authorization);
    if (sentName !== undefined) options.onFailedLogin?.(reply.incoming, sentName);
    await sendUnauthorized(reply);
  }

  async function answerError(err: unknown, reply: ReplyContext, routed: RoutedRequest | undefined): Promise<void> {
    const { status, message, plain } =
      err instanceof HttpError ? { status: err.status, message: err.message, plain: false } : errorReply(err, routed?.location);
    // A request stopped because its client went away is no fault of the server's: not logged as one.
    const clientGone = reply.signal.aborted && isBorgStoreError(err, ErrorCodes.ABORTED);
    if (status === 500 && !(err instanceof HttpError) && !clientGone) options.onInternalError?.(err);
    if (reply.outgoing.headersSent) reply.outgoing.destroy();
    else if (plain) sendBody(reply, status, message);
    else await sendErrorPage(reply, status, message, err instanceof HttpError ? err.headers : undefined);
  }

  return async (incoming, outgoing) => {
    const target = incoming.url ?? "/";
    const origin = originFormTarget(target);
    if (origin !== target) incoming.url = origin;
    const reply: ReplyContext = { incoming, outgoing, keepStreamOpen, signal: requestSignal(incoming, outgoing) };
    const routing: { routed?: RoutedRequest } = {};
    try {
      await answer(reply, routing);
    } catch (err) {
      await answerError(err, reply, routing.routed);
    } finally {
      routing.routed?.done?.();
    }
  };
}

function isStoreRouter(value: Backend | BackendHost | StoreRouter): value is StoreRouter {
  return typeof (value as Partial<StoreRouter>).route === "function";
}

/** The single-store mode: one store, one optional user (the reference's server); undefined: no valid credentials. */
function singleStoreRoute(backend: Backend | BackendHost, options: AppOptions): (reply: ReplyContext) => RoutedRequest | undefined {
  const host = backend instanceof BackendHost ? backend : new BackendHost(backend, { waitLimitMs: options.waitLimitMs });
  const credentials = checkCredentials(options.credentials);
  const location = host.backend.location;
  return (reply) => {
    if (credentials && !isAuthorized(reply.incoming.headers.authorization, credentials)) return undefined;
    const target = parseRequestTarget(collapseLeadingSlashes(reply.incoming.url ?? "/"));
    return { host, target, user: credentials?.username, location };
  };
}

/** CPython turns a leading run of "/" into one before anything else looks at the path. */
function collapseLeadingSlashes(target: string): string {
  return target.startsWith("//") ? `/${target.replace(/^\/+/, "")}` : target;
}

/** Python's repr() of a short ASCII string, for the reference's 501 text. */
function pyRepr(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
