import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { readResponseBody } from "@borgstore/core/backend";
import { afterEach, describe, expect, it } from "vitest";

// A body whose connection broke before anyone read it (rclone's load stats the name again between
// the reply's headers and reading its body): its 'error' and 'close' have been emitted already.
describe("readResponseBody on a body lost before the read", () => {
  let server: http.Server | undefined;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  /** A response of a real server that sends 1000 of the 100000 bytes it announces, then cuts the connection. */
  async function cutBody(): Promise<http.IncomingMessage> {
    server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-length": 100_000 });
      res.write(Buffer.alloc(1000, 7));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const [res] = (await once(http.get({ host: "127.0.0.1", port, agent: false }), "response")) as [http.IncomingMessage];
    res.on("error", () => undefined);
    await new Promise((resolve) => res.on("close", resolve));
    return res;
  }

  /** Settles like `pending`, or rejects after `ms` with "hung". */
  function orHung<T>(pending: Promise<T>, ms = 3000): Promise<T> {
    return Promise.race([pending, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("hung")), ms))]);
  }

  it("fails at once instead of waiting for events that already passed", async () => {
    const body = await cutBody();
    expect(body.destroyed).toBe(true);
    const read = orHung(readResponseBody(body, { length: 100_000, what: "test" }));
    await expect(read).rejects.not.toThrow("hung");
  });

  it("fails the same with into and a signal", async () => {
    const body = await cutBody();
    const read = orHung(
      readResponseBody(body, { length: 100_000, into: new Uint8Array(200_000), signal: new AbortController().signal, what: "test" }),
    );
    await expect(read).rejects.not.toThrow("hung");
  });
});
