import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from "node:http";
import { type AddressInfo, type Socket, createServer as createTcpServer } from "node:net";

/**
 * A loopback HTTP proxy in front of the real S3 service that answers the next `faults` requests
 * itself with an S3 error (throttling, 5xx) and forwards everything else unchanged (the Host
 * header too, so SigV4 signatures stay valid).
 */
export class FaultProxy {
  readonly seen: string[] = [];
  /** The Authorization header of each request seen (SigV4: its credential scope names the region). */
  readonly authorizations: string[] = [];
  /** TCP connections from the client open right now, and the most at once since the last reset. */
  openConnections = 0;
  maxOpenConnections = 0;
  /** The headers of each request in `seen`, in the same order. */
  readonly seenHeaders: IncomingMessage["headers"][] = [];
  /** Requests being served right now, and the most at once since the last reset. */
  inFlight = 0;
  maxInFlight = 0;
  faults: { status: number; code: string }[] = [];
  /**
   * GET answers forward their headers and this many body bytes, then the proxy sends no more (a
   * stalled service) but keeps the client's connection open, until the client closes it.
   */
  stallBodiesAfter: number | undefined;
  /** GET answers forward this many body bytes, then the proxy closes the client's connection. */
  cutBodiesAfter: number | undefined;
  /** Client connections holding a stalled answer right now. */
  stalledOpen = 0;
  #server: Server;

  private constructor(
    server: Server,
    readonly endpoint: string,
  ) {
    this.#server = server;
  }

  static async start(upstream: string): Promise<FaultProxy> {
    const target = new URL(upstream);
    let proxy: FaultProxy | undefined;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (!proxy) return;
      const p = proxy;
      p.seen.push(`${req.method} ${req.url}`);
      p.authorizations.push(req.headers.authorization ?? "");
      p.seenHeaders.push(req.headers);
      p.maxInFlight = Math.max(p.maxInFlight, ++p.inFlight);
      res.on("close", () => p.inFlight--);
      const fault = p.faults.shift();
      if (fault) {
        req.resume();
        res.writeHead(fault.status, { "content-type": "application/xml" });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected</Message></Error>`);
        return;
      }
      const upstreamReq = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          const stallAfter = p.stallBodiesAfter ?? p.cutBodiesAfter;
          const cut = p.cutBodiesAfter !== undefined;
          if (req.method !== "GET" || stallAfter === undefined) {
            up.pipe(res);
            return;
          }
          let forwarded = 0;
          up.on("data", (chunk: Buffer) => {
            if (forwarded >= stallAfter) return;
            res.write(chunk.subarray(0, stallAfter - forwarded));
            forwarded += chunk.byteLength;
            if (forwarded >= stallAfter) {
              up.destroy();
              if (cut) {
                res.socket?.destroy();
                return;
              }
              p.stalledOpen++;
              req.socket.once("close", () => p.stalledOpen--);
            }
          });
          up.on("end", () => res.end());
        },
      );
      upstreamReq.on("error", () => res.destroy());
      req.pipe(upstreamReq);
    });
    server.on("connection", (socket: Socket) => {
      const p = proxy;
      if (!p) return;
      p.maxOpenConnections = Math.max(p.maxOpenConnections, ++p.openConnections);
      socket.on("close", () => p.openConnections--);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new FaultProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A TCP server that accepts connections and never answers: a hung service. */
export async function silentServer(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
