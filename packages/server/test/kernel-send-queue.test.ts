import { type AddressInfo, type Server, type Socket, connect, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { clientAddress } from "../src/connection-guard.js";
import { connectionKey, kernelSendQueues } from "../src/kernel-send-queue.js";

/** A loopback connection whose client never reads, and the server's side of it holding `size` unsent bytes. */
async function stalledConnection(listenHost: string, connectHost: string, size: number): Promise<{ served: Socket; close(): void }> {
  let served: Socket | undefined;
  const server: Server = createServer((socket) => {
    served = socket;
    socket.write(Buffer.alloc(size));
  });
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  const client = connect((server.address() as AddressInfo).port, connectHost);
  client.pause();
  await new Promise((r) => client.once("connect", r));
  while (!served) await new Promise((r) => setTimeout(r, 10));
  // Let the kernel fill the buffers it can.
  await new Promise((r) => setTimeout(r, 200));
  return {
    served,
    close() {
      client.destroy();
      served?.destroy();
      server.close();
    },
  };
}

function keyOf(socket: Socket): string {
  return connectionKey(socket.localPort as number, clientAddress(socket) as string, socket.remotePort as number);
}

describe.runIf(process.platform === "linux")("bytes the kernel holds unacknowledged, per connection (/proc/net/tcp, tcp6)", () => {
  for (const [listen, to, kind] of [
    ["127.0.0.1", "127.0.0.1", "IPv4"],
    ["::1", "::1", "IPv6"],
    ["::", "127.0.0.1", "IPv4-mapped IPv6"],
  ] as const)
    it(`finds an ${kind} connection whose client does not read, with what it holds`, async ({ skip }) => {
      const conn = await stalledConnection(listen, to, 32 * 1024 * 1024).catch((err) => {
        if (kind !== "IPv4" && (err as NodeJS.ErrnoException).code === "EADDRNOTAVAIL") return undefined;
        throw err;
      });
      if (!conn) return skip("no IPv6 loopback on this machine");
      try {
        const held = kernelSendQueues()?.get(keyOf(conn.served));
        expect(held).toBeGreaterThan(0);
      } finally {
        conn.close();
      }
    });
});

describe("connectionKey", () => {
  it("writes an IPv4 peer as it is, an IPv6 one as 8 lowercase groups without leading zeros", () => {
    expect(connectionKey(8080, "10.0.0.1", 51000)).toBe("8080 10.0.0.1 51000");
    expect(connectionKey(1, "::1", 2)).toBe("1 0:0:0:0:0:0:0:1 2");
    expect(connectionKey(1, "::", 2)).toBe("1 0:0:0:0:0:0:0:0 2");
    expect(connectionKey(1, "FE80::0A:1", 2)).toBe("1 fe80:0:0:0:0:0:a:1 2");
    expect(connectionKey(1, "2001:db8::", 2)).toBe("1 2001:db8:0:0:0:0:0:0 2");
    expect(connectionKey(1, "2001:0db8:0000:0001:0002:0003:0004:00ff", 2)).toBe("1 2001:db8:0:1:2:3:4:ff 2");
  });
});

describe.runIf(process.platform === "linux")("kernelSendQueues", () => {
  it("leaves out connections whose sent bytes were all acknowledged", async () => {
    const conn = await stalledConnection("127.0.0.1", "127.0.0.1", 0);
    try {
      const queues = kernelSendQueues();
      expect(queues).toBeInstanceOf(Map);
      expect(queues?.has(keyOf(conn.served))).toBe(false);
      for (const held of queues?.values() ?? []) expect(held).toBeGreaterThan(0);
    } finally {
      conn.close();
    }
  });
});
