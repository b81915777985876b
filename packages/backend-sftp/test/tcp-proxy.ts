import { type Server, type Socket, connect, createServer } from "node:net";

/**
 * A loopback TCP proxy in front of the sshd, so a test can cut the real connection at a chosen
 * moment: after some bytes, or instead of delivering the server's next answer.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket }>();
  #refuse = false;
  #cutAfterUpstreamBytes: number | undefined;
  #cutAfterDownstreamBytes: number | undefined;
  #cutOnNextReply = false;
  #cuts = 0;
  #refused = 0;
  port = 0;

  private constructor(targetHost: string, targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#refuse) {
        this.#refused++;
        client.destroy();
        return;
      }
      const upstream = createConnectionTo(targetHost, targetPort);
      const pair = { client, upstream };
      this.#pairs.add(pair);
      client.setNoDelay(true);
      client.on("data", (data: Buffer) => {
        upstream.write(data);
        if (this.#cutAfterUpstreamBytes !== undefined) {
          this.#cutAfterUpstreamBytes -= data.length;
          if (this.#cutAfterUpstreamBytes <= 0) {
            this.#cutAfterUpstreamBytes = undefined;
            this.cutAll();
          }
        }
      });
      upstream.on("data", (data: Buffer) => {
        if (this.#cutOnNextReply) {
          this.#cutOnNextReply = false;
          this.cutAll();
          return;
        }
        if (this.#cutAfterDownstreamBytes !== undefined) {
          const left = this.#cutAfterDownstreamBytes;
          if (data.length >= left) {
            // Deliver exactly `left` more bytes, then cut: the client sees a reply end mid-packet.
            this.#cutAfterDownstreamBytes = undefined;
            client.write(data.subarray(0, left), () => this.cutAll());
            return;
          }
          this.#cutAfterDownstreamBytes = left - data.length;
        }
        client.write(data);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.#pairs.delete(pair);
      };
      client.on("close", end);
      upstream.on("close", end);
      client.on("error", end);
      upstream.on("error", end);
    });
  }

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    proxy.port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  /** Connections cut so far. */
  get cuts(): number {
    return this.#cuts;
  }

  /** Connections refused so far (see refuseConnections). */
  get refused(): number {
    return this.#refused;
  }

  /** Local ports of the proxy's connections to the server (to find sshd's session processes). */
  get upstreamPorts(): number[] {
    return [...this.#pairs].map((p) => p.upstream.localPort ?? 0).filter((p) => p > 0);
  }

  /** Drops every connection at once, like a network failure. */
  cutAll(): void {
    if (this.#pairs.size > 0) this.#cuts++;
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Cuts every connection once the client has sent `bytes` more bytes. */
  cutAfterUpstreamBytes(bytes: number): void {
    this.#cutAfterUpstreamBytes = bytes;
  }

  /** Cuts every connection once the server has sent `bytes` more bytes (delivering exactly those). */
  cutAfterDownstreamBytes(bytes: number): void {
    this.#cutAfterDownstreamBytes = bytes;
  }

  /** Cuts every connection instead of delivering the server's next answer (the request was executed). */
  cutOnNextReply(): void {
    this.#cutOnNextReply = true;
  }

  /** New connections are closed at once (the server looks unreachable). */
  refuseConnections(refuse: boolean): void {
    this.#refuse = refuse;
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function createConnectionTo(host: string, port: number): Socket {
  const s = connect(port, host);
  s.setNoDelay(true);
  return s;
}
