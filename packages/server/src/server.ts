import { type IncomingMessage, type Server, type ServerOptions, type ServerResponse, createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Server as TlsServer } from "node:tls";
import type { Backend } from "@borgstore/core";
import { type AppOptions, type RequestListener, type StoreRouter, createApp } from "./app.js";
import { checkCredentials, isAuthorized } from "./auth.js";
import { BackendHost } from "./backend-host.js";
import { ConnectionGuard } from "./connection-guard.js";
import { type ClientErrorAnswer, type ParserError, clientErrorAnswer, clientErrorResponse } from "./client-error.js";
import { redact } from "./error-status.js";
import { Logger } from "./logger.js";
import { type Health, backendHealth } from "./observability/health.js";
import { createMetricsServer, listenMetrics } from "./observability/metrics-listener.js";
import type { ServerMetrics } from "./observability/metrics.js";
import { RequestObserver } from "./observability/request-observer.js";
import { connectionOf, endsConnection, knownConnection, responseDone } from "./request-signal.js";
import { isRequestLineError } from "./refused-request.js";
import { type GoOn, StdioSession } from "./stdio-session.js";
import { type TlsFiles, readTlsCredentials, reloadTlsCredentials } from "./tls.js";
import { TOO_MANY_HEADERS, tooManyHeaderLines } from "./header-lines.js";
import { headWithoutUpgrade } from "./upgrade-request.js";

/** Options of `new RestServer(...)`: the app's options plus connection limits, timeouts and logging. */
export interface RestServerOptions extends Omit<AppOptions, "keepStreamOpen" | "onInternalError" | "onFailedLogin"> {
  /** Where the access log and errors go; default: a Logger at level info on stderr. */
  logger?: Logger;
  /** A connection that sends and receives nothing for this long is closed (slow clients). Default 120 s. */
  idleTimeoutMs?: number;
  /** Time a client has to send the request headers. Default 20 s (at most the idle timeout). */
  headersTimeoutMs?: number;
  /** At most this many open connections; more are refused. Default 256. */
  maxConnections?: number;
  /** At most this many open connections from one client address; 0 = no limit. Default 32. */
  maxConnectionsPerAddress?: number;
  /**
   * While the server waits on a client (its request body, or its reading of a response), the
   * client must move at least this many bytes per second, measured per `rateWindowMs`; a
   * connection below it for two windows in a row is cut. 0 = off. Default 1024.
   */
  minRate?: number;
  /** Default 20 s. */
  rateWindowMs?: number;
  /** @internal Counts every request (served by `listenMetrics`). */
  metrics?: ServerMetrics;
  /** Where audit lines go (deletes, denials); default: `logger`. */
  auditLogger?: Logger;
  /** HTTPS with this certificate and key (read now; again by `reloadTls`). */
  tls?: TlsFiles;
}

/**
 * The HTTP/1.1 server around the app: TCP, an inherited listening socket (systemd), or one
 * session over a pair of streams (stdio); access log; graceful shutdown.
 */
export class RestServer {
  /** Shares the one open backend among requests (single-store mode; undefined with a StoreRouter). */
  readonly host: BackendHost | undefined;
  /** The underlying node HTTP server. */
  readonly http: Server;
  /** The server's logger. */
  readonly logger: Logger;
  #stdio: boolean;
  #session: StdioSession | undefined;
  #guard: ConnectionGuard | undefined;
  #inflight = new Set<Promise<void>>();
  #responses = new Set<ServerResponse>();
  #refused = new WeakSet<object>();
  /** Node's own listener that makes a socket an HTTP connection (a fresh parser on it). */
  readonly #startHttp: (socket: Duplex) => void;
  #shuttingDown = false;
  #shutdown: Promise<void> | undefined;
  readonly #stores: BackendHost | StoreRouter;
  readonly #location: string | undefined;
  #observer: RequestObserver;
  #metrics: ServerMetrics | undefined;
  #metricsServer: Server | undefined;
  #tls: TlsFiles | undefined;
  #auditLogger: Logger | undefined;
  /** Whose the single store is, for its usage metrics: the one login, or "-". */
  #owner: string;

  /** `backend`: the one store to serve, or a StoreRouter that finds each request's store (hosting mode). */
  constructor(backend: Backend | BackendHost | StoreRouter, options: RestServerOptions & { stdio?: boolean } = {}) {
    const router = "route" in backend ? backend : undefined;
    this.host = router ? undefined : backend instanceof BackendHost ? backend : new BackendHost(backend as Backend, { waitLimitMs: options.waitLimitMs });
    this.#stores = router ?? (this.host as BackendHost);
    this.#location = this.host?.backend.location;
    this.logger = options.logger ?? new Logger("info");
    this.#stdio = options.stdio ?? false;
    this.#metrics = options.metrics;
    this.#observer = new RequestObserver({ logger: this.logger, audit: options.auditLogger, metrics: options.metrics });
    this.#metrics?.setUsageSource(() => this.#storedUsage());
    this.#tls = options.tls;
    this.#auditLogger = options.auditLogger;
    this.#owner = checkCredentials(options.credentials)?.username ?? "-";
    const listener = createApp(this.#stores, {
      ...options,
      keepStreamOpen: this.#stdio,
      onInternalError: (err) => this.logger.error(`internal error: ${describe(err, this.#location)}`),
      // Never the name sent: a client URL like http://secret@host/ puts a password there.
      onFailedLogin: (req) => this.logger.warning(`failed login from ${this.#peer(req)} (a user name was given)`),
    });
    const idle = options.idleTimeoutMs ?? 120_000;
    const serverOptions: ServerOptions = {
        noDelay: true,
        // The Python stdio client sends no Host header (and nginx always does).
        requireHostHeader: false,
        keepAlive: true,
        // Uploads may take long; slow ones are cut by the idle timeout instead.
        requestTimeout: 0,
        headersTimeout: this.#stdio ? 0 : Math.min(options.headersTimeoutMs ?? 20_000, idle),
        keepAliveTimeout: this.#stdio ? 0 : Math.min(60_000, idle),
        connectionsCheckingInterval: 1_000,
      };
    const handle = (req: IncomingMessage, res: ServerResponse) => this.#handle(listener, req, res);
    // An https.Server is a tls.Server with the same request machinery as http.Server (the same
    // events, timeouts and connection methods), typed apart.
    this.http = this.#tls
      ? (createHttpsServer({ ...serverOptions, ...readTlsCredentials(this.#tls) }, handle) as unknown as Server)
      : createServer(serverOptions, handle);
    // Taken before anything else listens: an https server's HTTP machinery listens on
    // 'secureConnection' ('connection' is where TLS starts).
    const [startHttp] = this.http.listeners(this.#tls ? "secureConnection" : "connection");
    if (typeof startHttp !== "function") throw new Error("node:http has no connection listener to serve an upgrade request with");
    this.#startHttp = (socket) => startHttp.call(this.http, socket);
    this.http.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => this.#refuseUnreadable(err, socket));
    // Node hands a CONNECT over without a response (and destroys the connection, losing the
    // answers before it, when nobody takes it): the reference's 501 after those answers.
    this.http.on("connect", (_req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const message = "Unsupported method ('CONNECT')";
      this.#answerLast(socket, { status: 501, reason: message, message }, this.#session?.continueWith(socket, head));
    });
    // Node would serve a request asking for an Upgrade and then read nothing more on its
    // connection (the requests pipelined behind it lost, unanswered): served as the reference does.
    this.http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#serveUpgradeRequest(req, socket, head));
    // An expectation other than 100-continue: Node would answer 417; the reference ignores it.
    this.http.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => this.http.emit("request", req, res));
    // `Expect: 100-continue`: Node would say "100 Continue" at once and so invite the body of a
    // request the app then refuses (curl sends large uploads this way). The body is invited only
    // with valid credentials and an announced size within --max-object-size; otherwise the app
    // answers (401, 413) without it, closing the connection. With a StoreRouter the app invites it
    // once the request is routed (its credentials checked, its size reserved against the quota).
    const credentials = checkCredentials(options.credentials);
    this.http.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
      const length = Number(req.headers["content-length"] ?? 0);
      const authorized = !credentials || isAuthorized(req.headers.authorization, credentials);
      const fits = options.maxObjectSize === undefined || !(length > options.maxObjectSize);
      if (!router && authorized && fits) res.writeContinue();
      this.http.emit("request", req, res);
    });
    if (!this.#stdio) {
      this.http.setTimeout(idle);
      this.http.maxConnections = options.maxConnections ?? 256;
      // A connection idle between requests may be a client still reading an answer the kernel
      // holds for it (all of it sent, at its own pace): when full, those make room for the next
      // client (which retries) instead of holding their slots until the keep-alive timeout.
      this.http.on("drop", () => this.http.closeIdleConnections());
      this.#guard = new ConnectionGuard(this.http, {
        maxPerAddress: options.maxConnectionsPerAddress ?? 32,
        minRate: options.minRate ?? 1024,
        rateWindowMs: options.rateWindowMs ?? 20_000,
        logger: this.logger,
      });
    }
    // Requests already received when the client ends its side (stdin's end, a TCP half-close)
    // still run and get their answers, as the reference's do; Node's default would abort them
    // and end the connection, after a store behind them had perhaps already happened, unanswered.
    (this.http as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  }

  #handle(listener: RequestListener, req: IncomingMessage, res: ServerResponse): void {
    if (this.#shuttingDown) res.shouldKeepAlive = false;
    this.#responses.add(res);
    const answered = this.#guard?.watch(req, res);
    const startedAt = performance.now();
    const peer = this.#peer(req);
    const connection = connectionOf(req.socket);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      answered?.();
      connection.offAbort(end);
      this.#responses.delete(res);
      this.#observer.finished(peer, req, res, startedAt);
      if (this.#shuttingDown) setImmediate(() => this.http.closeIdleConnections());
    };
    res.once("close", end);
    // A response queued behind one that closed the connection never gets 'close' itself.
    connection.onAbort(end);
    // Pipelined requests on one connection run one after the other, as a client expects
    // (a HEAD sent right behind a store must see the stored object). One whose connection is gone
    // or closing by its turn does not start: nobody would get its answer.
    const previous = connection.last;
    const run = async () => {
      if (!connection.aborted && !connection.closing) await listener(req, res);
    };
    const settle = () => {
      if (endsConnection(res)) connection.closing = true;
      this.#inflight.delete(done);
      if (connection.last === done) connection.last = undefined;
    };
    // One settling step, not a catch and a finally: two promises less per request.
    const done: Promise<void> = (previous ? previous.then(run) : run()).then(settle, (err: unknown) => {
      this.logger.error(`request failed: ${describe(err, this.#location)}`);
      res.destroy();
      settle();
    });
    this.#inflight.add(done);
    connection.last = done;
    connection.lastResponse = res;
  }

  /**
   * Bytes Node cannot read as a request (or a request too slow to arrive). Node's own answer goes
   * out at once and destroys the connection, losing the answers to the complete requests
   * pipelined before those bytes (their stores happen, the client never hears of them): those are
   * answered first, then the error. On TCP the connection then closes (nothing after the bad bytes
   * can be read); a stdio session reads on after a refused request line, as the reference does.
   */
  #refuseUnreadable(err: NodeJS.ErrnoException & ParserError, socket: Duplex): void {
    // The parser reports the same error again for every later packet.
    if (this.#refused.has(socket)) return;
    this.#refused.add(socket);
    // Bytes after a request that said Connection: close: its answer ends the connection, and
    // nothing after it is read (RFC 9112 §9.6).
    if (err.code === "HPE_CLOSED_CONNECTION") return;
    const read = (socket as { bytesRead?: unknown }).bytesRead;
    const answer = clientErrorAnswer(err, { packetOpensConnection: Buffer.isBuffer(err.rawPacket) && read === err.rawPacket.length });
    const lastResponse = knownConnection(socket)?.lastResponse;
    // The client ended its side in the middle of a request's body: that body never completes,
    // and the requests before it would wait for it (holding the connection until the rate guard).
    const cutMidBody = err.code === "HPE_INVALID_EOF_STATE" && lastResponse !== undefined && !lastResponse.req.complete;
    if (answer === undefined || !socket.writable || cutMidBody) {
      socket.destroy();
      return;
    }
    this.logger.debug(`unreadable request (${err.code ?? err.message}): answering ${answer.status} after the requests before it`);
    const inRequestLine = isRequestLineError(err.code) || answer.status === 414;
    const goOn = inRequestLine ? this.#session?.refuse(socket, err.rawPacket, err.bytesParsed) : undefined;
    this.#answerLast(socket, answer, goOn);
  }

  /**
   * Serves a request that asked for an Upgrade, and those behind it, as HTTP/1.1 (the reference
   * ignores the Upgrade header): Node handed over the connection with its parser gone, so once
   * every request before it is answered, a fresh parser on the connection reads the request again
   * (without its Upgrade header) and the bytes after it. Its body, if any, is in `head`: Node does
   * not read the body of such a request.
   */
  #serveUpgradeRequest(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node counts header lines only up to its maxHeadersCount in `rawHeaders`, while its parser
    // framed the request by all of them: a head rebuilt from them could lose its Content-Length
    // and have its body read as requests. Refused as the reference refuses more than 100.
    if (tooManyHeaderLines(req)) {
      this.#answerLast(socket, TOO_MANY_HEADERS);
      return;
    }
    // Node took its own listeners off the connection; until a parser is on it again, ours stand
    // in: a reset while the answers before it go out would be an 'error' event nobody listens
    // to (ending the process), and an answer waiting for the socket's 'drain' (a large load,
    // written with backpressure) would wait forever without Node's relay of it to the answer.
    const idle = () => socket.destroy();
    const failed = () => socket.destroy();
    const drained = () => relayDrain(socket);
    socket.once("timeout", idle);
    socket.on("error", failed);
    socket.on("drain", drained);
    const again = Buffer.concat([headWithoutUpgrade(req), head]);
    // Over stdio the rest of the stream goes on as the session's next connection, which reads it
    // even after the input ended (a connection whose input ended can take nothing back).
    const goOn = this.#session?.continueWith(socket, again);
    const served = this.#afterEarlierAnswers(socket)
      .then((open) => {
        socket.off("timeout", idle);
        socket.off("drain", drained);
        if (!open) {
          goOn?.abandon();
          return;
        }
        if (this.#shuttingDown) {
          // Not read (no new request starts in a shutdown): the client sees the connection end.
          goOn?.abandon();
          this.#closeGently(socket);
          return;
        }
        if (goOn) {
          goOn.resume();
          return;
        }
        socket.unshift(again);
        this.#startHttp(socket);
        socket.off("error", failed);
      })
      // An earlier answer cut by a shutdown or the connection's end: this one goes with it.
      .catch(() => {
        socket.destroy();
      })
      .finally(() => this.#inflight.delete(served));
    this.#inflight.add(served);
  }

  /**
   * Resolves once every request before the last one Node parsed on `socket` is answered: true
   * when the connection is still open for more (no answer closed it).
   */
  #afterEarlierAnswers(socket: Duplex): Promise<boolean> {
    const connection = knownConnection(socket);
    const lastResponse = connection?.lastResponse;
    return (
      (connection?.last ?? Promise.resolve())
        // A response ended may still wait for the one before it to leave: it goes out first.
        .then(() => (connection && lastResponse ? responseDone(lastResponse, connection.signalFor(lastResponse)) : undefined))
        // An answer before it closed the connection (or will): nothing after such an answer is read.
        .then(() => !(connection?.closing || !socket.writable || socket.destroyed))
    );
  }

  /**
   * Answers a request Node handed over without a response (its bytes refused, or a CONNECT) once
   * every request before it on the connection is answered. Then the connection closes, or a stdio
   * session goes on (`goOn`).
   */
  #answerLast(socket: Duplex, answer: ClientErrorAnswer, goOn?: GoOn): void {
    socket.pause();
    // Node took its own listeners off a connection it handed over (CONNECT, Upgrade): a reset
    // while the answers before this one go out must not be an 'error' event nobody listens to.
    if (socket.listenerCount("error") === 0) socket.on("error", () => socket.destroy());
    const answered = this.#afterEarlierAnswers(socket)
      .then((open) => {
        if (!open) {
          goOn?.abandon();
          return;
        }
        this.#observer.refused(this.#stdio ? "stdio-client" : ((socket as Partial<Socket>).remoteAddress ?? "unix"), answer.status, answer.reason);
        if (goOn) {
          socket.write(clientErrorResponse(answer, { close: false }), () => goOn.resume());
          return;
        }
        this.#closeGently(socket, clientErrorResponse(answer));
      })
      .finally(() => this.#inflight.delete(answered));
    this.#inflight.add(answered);
  }

  /** Ends the connection after `last` (if given), reading nothing more from it. */
  #closeGently(socket: Duplex, last?: Buffer): void {
    // End, not destroy: closing with unread bytes would reset the connection and could
    // discard our answers before the client read them. A client that keeps its side open
    // is cut a little later.
    const cut = setTimeout(() => socket.destroy(), 5_000);
    cut.unref();
    socket.once("close", () => clearTimeout(cut));
    if (last) socket.end(last);
    else socket.end();
    // Read on, discarding, so that the client's close is seen at once: a paused socket would
    // keep its slot (and its address's --max-connections-per-address count) until a timeout.
    socket.once("end", () => socket.destroy());
    socket.resume();
  }

  #peer(req: IncomingMessage): string {
    return this.#stdio ? "stdio-client" : (req.socket.remoteAddress ?? "unix");
  }

  /** Serving, and the backend open or opening now (what /healthz answers). */
  health(): Promise<Health> {
    // Hosting mode opens each repository on demand: serving is all there is to report.
    if (!this.host) return Promise.resolve(this.#shuttingDown ? { ok: false, reason: "shutting down" } : { ok: true });
    return backendHealth(this.host, () => this.#shuttingDown);
  }

  /** The single store's usage where the backend keeps it (a quota): read only while it is open. */
  async #storedUsage(): Promise<{ user: string; repo: string; bytes?: number }[]> {
    const backend = this.host?.backend;
    if (!backend?.opened || !backend.capabilities.quota) return [];
    const { usage } = await backend.quota().catch(() => ({ usage: -1 }));
    return usage < 0 ? [] : [{ user: this.#owner, repo: "", bytes: usage }];
  }

  /** @internal
   * Serves /metrics and /healthz on a listener of its own (closed by shutdown). Needs the
   * `metrics` option. The caller decides whether the address may be reached by others.
   */
  async listenMetrics(port: number, hostname: string): Promise<AddressInfo> {
    if (!this.#metrics) throw new Error("listenMetrics needs the metrics option");
    this.#metricsServer = createMetricsServer(this.#metrics, () => this.health());
    return listenMetrics(this.#metricsServer, port, hostname);
  }

  /**
   * Reads the TLS certificate and key files again for new connections (SIGHUP); open connections
   * go on. A broken pair throws TlsConfigurationError and the certificate in use stays.
   */
  reloadTls(): void {
    if (!this.#tls) throw new Error("reloadTls: the server was started without TLS");
    reloadTlsCredentials(this.http as unknown as TlsServer, this.#tls);
  }

  /** Listens on TCP; resolves with the bound address (port 0 picks a free port). */
  listenTcp(port: number, hostname: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(port, hostname, () => {
        this.http.off("error", reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** Serves an inherited, already listening socket (systemd socket activation: fd 3). */
  listenFd(fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen({ fd }, () => {
        this.http.off("error", reject);
        resolve();
      });
    });
  }

  /**
   * Serves one HTTP session over `input`/`output` (stdio mode). Resolves at end of input, once the
   * requests already received are answered.
   */
  serveStreams(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
    const session = new StdioSession(input, output, (connection) => this.http.emit("connection", connection));
    this.#session = session;
    const settle = (): Promise<void> =>
      this.#inflight.size === 0 ? Promise.resolve() : Promise.allSettled([...this.#inflight]).then(settle);
    return session.serve().then(settle);
  }

  /**
   * Stops accepting connections, lets running requests finish (idle keep-alive connections are
   * closed, busy ones after their response), cuts whatever is still running after `graceMs`,
   * then closes the backend (which persists posixfs quota). Aborted uploads leave no temp file:
   * the backend removes it when the body stream fails.
   */
  shutdown(graceMs = 30_000): Promise<void> {
    this.#shutdown ??= this.#doShutdown(graceMs);
    return this.#shutdown;
  }

  async #doShutdown(graceMs: number): Promise<void> {
    this.#shuttingDown = true;
    for (const res of this.#responses) if (!res.headersSent) res.shouldKeepAlive = false;
    const closed = new Promise<void>((resolve) => {
      if (!this.http.listening) return resolve();
      this.http.close(() => resolve());
    });
    this.http.closeIdleConnections();
    const timer = setTimeout(() => {
      // Work that no longer waits on its connection (a defrag, a store) ends too.
      for (const res of this.#responses) connectionOf(res.req.socket).abort(new Error("the server is shutting down"));
      this.http.closeAllConnections();
    }, graceMs);
    timer.unref();
    await Promise.all([closed, Promise.allSettled([...this.#inflight])]);
    // Requests that came in on connections accepted before close() may have added more.
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    clearTimeout(timer);
    await this.#stores.close();
    if (this.#metricsServer?.listening) {
      const metricsServer = this.#metricsServer;
      const closedMetrics = new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      metricsServer.closeAllConnections();
      await closedMetrics;
    }
    this.logger.flush();
    await this.#auditLogger?.flushed();
  }
}

function describe(err: unknown, location: string | undefined): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}${err.cause ? ` (cause: ${String(err.cause)})` : ""}` : String(err);
  return redact(text, location);
}

/**
 * What Node's own 'drain' listener does for the answer being written on `socket`, which it took
 * off with the others when it handed the connection over: the answer waits for its own 'drain'.
 * One emitted when the answer did not wait for it only makes it write on.
 */
function relayDrain(socket: Duplex): void {
  const answer = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (answer && !answer.writableEnded) answer.emit("drain");
}
