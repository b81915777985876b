import type { IncomingMessage, ServerResponse } from "node:http";

const signals = new WeakMap<IncomingMessage, AbortController>();

/**
 * The request's AbortSignal: it fires when the connection closes before the response has
 * finished (a client that resets or leaves, the rate guard's cut, a close after an earlier
 * answer's `Connection: close` that leaves pipelined requests unanswered), or when the server
 * aborts the request itself (end of the shutdown grace). One per request, made on first ask.
 */
export function requestAbort(req: IncomingMessage, res: ServerResponse): AbortController {
  let controller = signals.get(req);
  if (controller) return controller;
  controller = new AbortController();
  signals.set(req, controller);
  const abort = controller;
  const socket = req.socket;
  const onClose = () => {
    if (!res.writableFinished) abort.abort(new Error("the client connection closed before the response was sent"));
  };
  if (socket.destroyed) onClose();
  else {
    socket.once("close", onClose);
    // Many requests share a keep-alive connection: each takes its listener away when done.
    res.once("close", () => socket.off("close", onClose));
  }
  return controller;
}

export function requestSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  return requestAbort(req, res).signal;
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
