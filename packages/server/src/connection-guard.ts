import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { connectionKey, kernelSendQueues } from "./kernel-send-queue.js";
import type { Logger } from "./logger.js";

export interface ConnectionGuardOptions {
  /** At most this many open connections from one client address; 0 = no limit. */
  maxPerAddress: number;
  /** Bytes per second a client must at least send (body) or take (response) while we wait on it; 0 = off. */
  minRate: number;
  /** The rate is measured over windows this long; a client is cut after two slow windows in a row. */
  rateWindowMs: number;
  logger: Logger;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  answered: boolean;
}

interface Watch {
  exchanges: Set<Exchange>;
  /** Bytes moved on the connection at the last tick. */
  progress: number;
  /** Whether the last tick found the connection waiting on the client. */
  waitingOnClient: boolean;
}

/**
 * What one client can hold: connections per address, and a minimum transfer rate whenever the
 * server waits on the client (a request body that has not fully arrived, a response the client
 * does not take), so a peer that trickles a byte per idle period cannot keep a slot forever.
 * Waiting on ourselves (a slow backend, a long defrag) never counts against the client.
 */
export class ConnectionGuard {
  readonly #options: ConnectionGuardOptions;
  readonly #perAddress = new Map<string, number>();
  readonly #watches = new Map<Socket, Watch>();
  #timer: NodeJS.Timeout | undefined;

  constructor(http: Server, options: ConnectionGuardOptions) {
    this.#options = options;
    if (options.maxPerAddress > 0) http.on("connection", (socket: Socket) => this.#admit(socket));
  }

  /**
   * Watches the transfer rate of one request and its response, until both are done; the caller
   * calls the returned function once the response has closed (it already listens for that).
   */
  watch(req: IncomingMessage, res: ServerResponse): (() => void) | undefined {
    if (this.#options.minRate <= 0) return undefined;
    const socket = req.socket;
    let watch = this.#watches.get(socket);
    if (!watch) {
      watch = { exchanges: new Set(), progress: bytesMoved(socket), waitingOnClient: false };
      this.#watches.set(socket, watch);
      socket.once("close", () => {
        this.#watches.delete(socket);
        if (this.#watches.size === 0) this.#stop();
      });
    }
    const exchange: Exchange = { req, res, answered: false };
    const { exchanges } = watch;
    exchanges.add(exchange);
    this.#timer ??= setInterval(() => this.#tick(), this.#options.rateWindowMs).unref();
    return () => {
      exchange.answered = true;
      // Done with as the next tick would be: not kept (with its request and response) for up to a
      // window, which on a busy connection held thousands of them into the old generation.
      if (req.complete || req.destroyed) exchanges.delete(exchange);
    };
  }

  /** Requests watched now: unanswered ones, and answered ones whose body is still arriving. */
  get watchedRequests(): number {
    let count = 0;
    for (const watch of this.#watches.values()) count += watch.exchanges.size;
    return count;
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #admit(socket: Socket): void {
    const address = clientAddress(socket);
    if (address === undefined) return;
    const open = this.#perAddress.get(address) ?? 0;
    if (open >= this.#options.maxPerAddress) {
      this.#options.logger.debug(`refused a connection from ${address}: ${open} already open (--max-connections-per-address)`);
      socket.destroy();
      return;
    }
    this.#perAddress.set(address, open + 1);
    socket.once("close", () => {
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
  }

  #tick(): void {
    const { minRate, rateWindowMs, logger } = this.#options;
    const least = (minRate * rateWindowMs) / 1000;
    const kernelQueues = kernelSendQueues();
    for (const [socket, watch] of this.#watches) {
      for (const e of watch.exchanges) if (e.answered && (e.req.complete || e.req.destroyed)) watch.exchanges.delete(e);
      // An answer the kernel took whole is not yet the client's: until it is acknowledged, the
      // client still owes us its reading.
      const unacknowledged = kernelQueues ? (kernelQueues.get(keyOf(socket) ?? "") ?? 0) : 0;
      const progress = bytesMoved(socket) - unacknowledged;
      // Between requests a keep-alive connection owes nothing (the keep-alive timeout governs it).
      if (watch.exchanges.size === 0 && unacknowledged === 0) {
        watch.progress = progress;
        watch.waitingOnClient = false;
        continue;
      }
      const waiting = unacknowledged > 0 || waitsOnClient(socket, watch.exchanges);
      if (waiting && watch.waitingOnClient && progress - watch.progress < least) {
        logger.info(
          `cut a slow connection from ${socket.remoteAddress ?? "unix"}: ${Math.max(0, progress - watch.progress)} bytes in ${rateWindowMs / 1000} s (--min-rate ${minRate})`,
        );
        reset(socket);
        continue;
      }
      watch.progress = progress;
      watch.waitingOnClient = waiting;
    }
  }
}

function keyOf(socket: Socket): string | undefined {
  const address = clientAddress(socket);
  if (address === undefined || socket.localPort === undefined || socket.remotePort === undefined) return undefined;
  return connectionKey(socket.localPort, address, socket.remotePort);
}

/** A reset, not a close: unsent response bytes are dropped instead of lingering in the kernel. */
function reset(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy(); // a unix socket has no reset
  }
}

/**
 * The client is what we wait for when response bytes sit unsent, or when a body is still
 * arriving and we would take more (below the high-water mark; above it, we are the slow side).
 */
function waitsOnClient(socket: Socket, exchanges: Set<Exchange>): boolean {
  if (socket.writableLength > 0) return true;
  for (const { req } of exchanges)
    if (!req.complete && !req.destroyed && req.readableLength < req.readableHighWaterMark) return true;
  return false;
}

/**
 * Bytes received plus bytes the kernel has accepted for sending. Node's `bytesWritten` counts a
 * write as soon as it is queued, and `writableLength` keeps a whole chunk (up to 8 MiB) until
 * all of it is sent: only libuv's own queue size tells how far a large write has got.
 */
function bytesMoved(socket: Socket): number {
  const internals = socket as Socket & { _bytesDispatched?: number; _handle?: { writeQueueSize?: number } | null };
  const dispatched = internals._bytesDispatched ?? socket.bytesWritten - socket.writableLength;
  const queued = internals._handle?.writeQueueSize ?? 0;
  return socket.bytesRead + dispatched - queued;
}

/** The peer address, IPv4-mapped IPv6 as plain IPv4; undefined for a unix socket. */
export function clientAddress(socket: Socket): string | undefined {
  const address = socket.remoteAddress;
  if (address === undefined) return undefined;
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
