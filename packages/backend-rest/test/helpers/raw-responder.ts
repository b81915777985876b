import { type AddressInfo, type Server, type Socket, createServer } from "node:net";

export interface RecordedRequest {
  method: string;
  target: string;
  /** Lower-case names, in arrival order. */
  headers: [string, string][];
  body: Buffer;
}

export interface RecordedResponse {
  status: number;
  reason: string;
  headers: [string, string][];
  body: Buffer;
}

/**
 * A bare TCP peer that parses HTTP/1.1 requests (Content-Length bodies only) and answers each with
 * the next queued raw response, closing the connection when that response says `Connection: close`.
 * It stands in for a recorded reference server, byte for byte.
 */
export class RawResponder {
  readonly requests: RecordedRequest[] = [];
  readonly #queue: RecordedResponse[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  connections = 0;
  /** Connections closed so far (by either side). */
  closed = 0;
  /** Bytes received so far on all connections, heads and bodies, as they arrive. */
  bytesIn = 0;
  /** When set, requests are read but never answered (a hung server). */
  silent = false;

  private constructor() {
    this.#server = createServer((socket) => this.#serve(socket));
  }

  static async start(): Promise<RawResponder> {
    const r = new RawResponder();
    await new Promise<void>((resolve) => r.#server.listen(0, "127.0.0.1", resolve));
    return r;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  clear(): void {
    this.#queue.length = 0;
  }

  respond(...responses: RecordedResponse[]): void {
    this.#queue.push(...responses);
  }

  #serve(socket: Socket): void {
    this.connections++;
    this.#sockets.add(socket);
    socket.on("close", () => {
      this.#sockets.delete(socket);
      this.closed++;
    });
    socket.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    socket.on("data", (data) => {
      this.bytesIn += data.byteLength;
      buf = Buffer.concat([buf, data]);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const [line = "", ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
        const headers = lines.map((l): [string, string] => {
          const i = l.indexOf(":");
          return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
        });
        const length = Number(headers.find(([k]) => k === "content-length")?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const [method = "", target = ""] = line.split(" ");
        this.requests.push({ method, target, headers, body: buf.subarray(end + 4, end + 4 + length) });
        buf = buf.subarray(end + 4 + length);
        if (this.silent) continue;
        const res = this.#queue.shift() ?? { status: 599, reason: "Nothing queued", headers: [["Content-Length", "0"]], body: Buffer.alloc(0) };
        const head = [`HTTP/1.1 ${res.status} ${res.reason}`, ...res.headers.map(([k, v]) => `${k}: ${v}`)].join("\r\n");
        socket.write(Buffer.concat([Buffer.from(`${head}\r\n\r\n`, "latin1"), method === "HEAD" ? Buffer.alloc(0) : res.body]));
        if (res.headers.some(([k, v]) => k.toLowerCase() === "connection" && v.toLowerCase() === "close")) {
          socket.end();
          return;
        }
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
