import type { IncomingMessage, ServerResponse } from "node:http";

const CLOSED_EARLY = "the client connection closed before the response was sent";

/**
 * What the server keeps per connection rather than per request: one AbortController that all of
 * its requests share (made on first ask: an AbortSignal costs more to make than the rest of a
 * small request's bookkeeping), the requests not yet seen to end, and the pipelined queue.
 * Its requests run one after the other, so the shared signal stands for the running one.
 */
export class ConnectionState {
  /** The last request's run on this connection: the next one starts after it. */
  last: Promise<void> | undefined;
  /** The last request's response. */
  lastResponse: ServerResponse | undefined;
  /**
   * An answer on this connection closed it or will (Connection: close, a destroyed response):
   * no request pipelined behind it may run (RFC 9112 §9.6), as nobody would hear its answer.
   */
  closing = false;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: Error | undefined;
  /** Called when the connection is gone: a response queued behind one that closed it gets no 'close'. */
  readonly #onAbort = new Set<() => void>();

  constructor(socket: { destroyed: boolean; once(event: "close", listener: () => void): unknown }) {
    if (socket.destroyed) this.abort(new Error(CLOSED_EARLY));
    else socket.once("close", () => this.abort(new Error(CLOSED_EARLY)));
  }

  /** The connection closed, or the server aborted its requests (end of the shutdown grace). */
  get aborted(): boolean {
    return this.#aborted;
  }

  /**
   * The signal of a request on this connection: it fires when the connection closes (or the
   * server aborts it). A response finished before that never sees it fire.
   */
  signalFor(res: ServerResponse): AbortSignal {
    if (this.#aborted && res.writableFinished) return new AbortController().signal;
    this.#controller ??= new AbortController();
    if (this.#aborted && !this.#controller.signal.aborted) this.#controller.abort(this.#reason);
    return this.#controller.signal;
  }

  /** Runs `callback` once when the connection is aborted; undo with `offAbort`. */
  onAbort(callback: () => void): void {
    this.#onAbort.add(callback);
  }

  offAbort(callback: () => void): void {
    this.#onAbort.delete(callback);
  }

  /** Fires the shared signal and ends every request still open on the connection. */
  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    for (const callback of [...this.#onAbort]) callback();
    this.#onAbort.clear();
  }
}

/**
 * Whether `res`, its request's run over, ends its connection: Node's own mark for a response that
 * says Connection: close (whoever decided it: the app's error page, a shutdown, the client, HTTP/1.0),
 * a connection already destroyed, or a response never begun (nothing behind it could be sent).
 */
export function endsConnection(res: ServerResponse): boolean {
  return (res as ServerResponse & { _last?: boolean })._last === true || res.req.socket.destroyed || !res.headersSent;
}

const connections = new WeakMap<object, ConnectionState>();

/** The state of the connection `socket` (made on its first request). */
export function connectionOf(socket: IncomingMessage["socket"]): ConnectionState {
  let state = connections.get(socket);
  if (!state) {
    state = new ConnectionState(socket);
    connections.set(socket, state);
  }
  return state;
}

/** The state of a connection that has had a request, if any. */
export function knownConnection(socket: object): ConnectionState | undefined {
  return connections.get(socket);
}

/**
 * The request's AbortSignal: it fires when the connection closes before the response has
 * finished (a client that resets or leaves, the rate guard's cut, a close after an earlier
 * answer's `Connection: close` that leaves pipelined requests unanswered), or when the server
 * aborts the request itself (end of the shutdown grace). Shared by the requests of one
 * connection, which run one at a time.
 */
export function requestSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  return connectionOf(req.socket).signalFor(res);
}

/**
 * Resolves once the response has been handed to the connection, or is never going to be (closed,
 * failed, or the request aborted): a response queued behind one that closed the connection gets
 * neither 'finish' nor 'close'.
 */
export function responseDone(res: ServerResponse, signal: AbortSignal): Promise<void> {
  if (res.writableFinished || res.destroyed || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("finish", done);
      res.off("close", done);
      res.off("error", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.once("finish", done);
    res.once("close", done);
    res.once("error", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Calls `callback` once, when `res` has been handed to its connection or never will be: what
 * responseDone resolves on, told by the connection itself (ConnectionState.abort fires the
 * request's signal) rather than by a listener on the signal and a promise, which cost a hosted
 * request about 1.5 µs of its ~60.
 */
export function whenResponseDone(res: ServerResponse, callback: () => void): void {
  const connection = res.writableFinished || res.destroyed ? undefined : connectionOf(res.req.socket);
  if (connection === undefined || connection.aborted) {
    callback();
    return;
  }
  const done = () => {
    res.off("finish", done);
    res.off("close", done);
    res.off("error", done);
    connection.offAbort(done);
    callback();
  };
  res.once("finish", done);
  res.once("close", done);
  res.once("error", done);
  connection.onAbort(done);
}
