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

/** Forwards `from` → `to`, each chunk `delayMs` after it arrived, strictly in arrival order. */
function pipeDelayed(from, to, delayMs) {
  const queue = [];
  let timer;
  const drain = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && queue[0].due <= now) {
      const { data } = queue.shift();
      if (data === null) to.end();
      else if (!to.destroyed) to.write(data);
    }
    if (queue.length > 0) timer = setTimeout(drain, queue[0].due - now);
  };
  const enqueue = (data) => {
    queue.push({ due: Date.now() + delayMs, data });
    timer ??= setTimeout(drain, delayMs);
  };
  from.on("data", enqueue);
  from.on("end", () => enqueue(null));
}
