import { Agent, type IncomingMessage, type Server, type ServerResponse, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionGuard } from "../src/connection-guard.js";
import { Logger } from "../src/index.js";

// The rate guard watches a request until it is answered and its body has arrived; what it keeps
// beyond that (request and response objects) only costs memory and garbage collection.

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

function get(port: number, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    request({ port, host: "127.0.0.1", path: "/", agent }, (res) => {
      res.resume();
      res.once("end", resolve);
    })
      .once("error", reject)
      .end();
  });
}

describe("ConnectionGuard: what it keeps", () => {
  it("lets go of each answered request at once, not at its next rate window, on a connection kept alive", async () => {
    const closed: Promise<void>[] = [];
    server = createServer();
    // A window far longer than the test: nothing may wait for a tick to be let go.
    const guard = new ConnectionGuard(server, { maxPerAddress: 0, minRate: 1024, rateWindowMs: 600_000, logger: new Logger("error") });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const answered = guard.watch(req, res);
      closed.push(new Promise((resolve) => res.once("close", () => resolve(answered?.()))));
      res.end("ok");
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 5; i++) await get(port, agent);
      await Promise.all(closed);
      expect(closed).toHaveLength(5);
      expect(guard.watchedRequests).toBe(0);
    } finally {
      agent.destroy();
    }
  });
});
