// A loopback TCP proxy that delays every chunk by `delayMs` in each direction (order kept), so the
// benchmark can compare clients over a high-latency link where tc netem is not available.
import { connect, createServer } from "node:net";

export async function startLatencyProxy(targetHost, targetPort, delayMs) {
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    pipeDelayed(client, upstream, delayMs);
    pipeDelayed(upstream, client, delayMs);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function pipeDelayed(from, to, delayMs) {
  from.on("data", (data) => {
    const due = Date.now() + delayMs;
    // Timers with the same delay fire in order, so bytes keep their order.
    setTimeout(() => to.destroyed || to.write(data), Math.max(0, due - Date.now()));
  });
  from.on("end", () => setTimeout(() => to.end(), delayMs));
}
