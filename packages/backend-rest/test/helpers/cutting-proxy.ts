import { type AddressInfo, type Server, type Socket, connect, createServer } from "node:net";

/**
 * A TCP proxy in front of a real server that can break connections on purpose: cut a response
 * after some bytes (the request reached the server, its answer is lost), or drop every new
 * connection at once (the server is unreachable). It can also watch requests: record their heads
 * and run a hook before each is forwarded (a body passes on unread, by its Content-Length).
 */
export class CuttingProxy {
  connections = 0;
  /** Responses cut so far (see cutResponses). */
  cuts = 0;
  /** Request heads (request line and headers, lower-cased), while `watchRequests` is on. */
  readonly heads: string[] = [];
  /** Runs before a watched request is forwarded; the request waits for it. */
  beforeRequest: ((head: string) => Promise<void>) | undefined;
  /** Uploads held back so far (see stallUploads). */
  stalls = 0;
  /** Responses still to cut, and after how many of their bytes. */
  #cuts: number[] = [];
  #dropAll = false;
  #stallUploadsAfter: number | undefined;
  #watch = false;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(targetPort: number) {
    this.#server = createServer((client) => this.#handle(client, targetPort));
  }

  static async start(targetPort: number): Promise<CuttingProxy> {
    const p = new CuttingProxy(targetPort);
    await new Promise<void>((resolve) => p.#server.listen(0, "127.0.0.1", resolve));
    return p;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The next `count` responses are cut after `afterBytes` of their bytes (with their connection). */
  cutResponses(count: number, afterBytes = 0): void {
    this.#cuts.push(...Array(count).fill(afterBytes));
  }

  /** New connections forward only `afterBytes` of request bytes, then hold the rest (a stalled upload). */
  stallUploads(afterBytes: number | undefined): void {
    this.#stallUploadsAfter = afterBytes;
  }

  /** On: new connections are read request by request, recorded in `heads` and passed through `beforeRequest`. */
  watchRequests(on: boolean): void {
    this.#watch = on;
  }

  /** On: cut every open connection and drop each new one at once (the server went away). */
  dropAll(on: boolean): void {
    this.#dropAll = on;
    if (on) for (const s of this.#sockets) s.destroy();
  }

  #track(s: Socket): void {
    this.#sockets.add(s);
    s.on("close", () => this.#sockets.delete(s));
    s.on("error", () => undefined);
  }

  #handle(client: Socket, targetPort: number): void {
    this.connections++;
    this.#track(client);
    if (this.#dropAll) {
      client.destroy();
      return;
    }
    let cut: number | undefined;
    const upstream = connect(targetPort, "127.0.0.1");
    this.#track(upstream);
    const stallAfter = this.#stallUploadsAfter;
    if (this.#watch) this.#forwardWatched(client, upstream);
    else if (stallAfter === undefined) client.pipe(upstream);
    else {
      let sent = 0;
      client.on("data", (data: Buffer) => {
        const room = stallAfter - sent;
        if (room > 0) upstream.write(data.subarray(0, room));
        sent += data.length;
        if (sent >= stallAfter && !client.isPaused()) {
          client.pause();
          this.stalls++;
        }
      });
    }
    let forwarded = 0;
    upstream.on("data", (data: Buffer) => {
      // Armed cuts apply to the next response bytes on any connection (one request at a time).
      if (cut === undefined) cut = this.#cuts.shift();
      if (cut === undefined) {
        client.write(data);
        return;
      }
      const room = cut - forwarded;
      if (room > 0) client.write(data.subarray(0, room));
      forwarded += Math.min(room, data.length);
      if (forwarded >= cut) {
        this.cuts++;
        client.destroy();
        upstream.destroy();
      }
    });
    upstream.on("end", () => client.end());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  }

  #forwardWatched(client: Socket, upstream: Socket): void {
    let pending = Buffer.alloc(0);
    // Bytes of the current request's body (its Content-Length) still to pass on unread.
    let bodyLeft = 0;
    let busy = Promise.resolve();
    client.on("data", (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        if (bodyLeft > 0) {
          if (pending.length === 0) break;
          const piece = pending.subarray(0, bodyLeft);
          pending = pending.subarray(piece.length);
          bodyLeft -= piece.length;
          busy = busy.then(() => {
            upstream.write(piece);
          });
          continue;
        }
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) break;
        const head = pending.subarray(0, end + 4).toString("latin1");
        pending = pending.subarray(end + 4);
        bodyLeft = Number(/\r\ncontent-length:[ \t]*(\d+)/i.exec(head)?.[1] ?? 0);
        busy = busy.then(async () => {
          this.heads.push(head.toLowerCase());
          await this.beforeRequest?.(head.toLowerCase());
          upstream.write(head, "latin1");
        });
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
