// A loopback TCP proxy that delays every chunk by `delayMs` in each direction (order kept), so the
// benchmark can compare clients over a high-latency link where tc netem is not available.
//
// It runs in a process of its own (`startLatencyProxy` spawns this file): in the benchmark's
// process its forwarding would compete for the event loop with our client, but not with
// OpenSSH's sftp, which runs apart.
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** Starts the proxy in a child process; resolves to its port and a close(). */
export async function startLatencyProxy(targetHost, targetPort, delayMs) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), targetHost, String(targetPort), String(delayMs)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (data) => {
      out += data;
      const line = /^(\d+)\n/.exec(out);
      if (line) resolve(Number(line[1]));
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`latency proxy exited (${code}) before listening`)));
  });
  return {
    port,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin.end(); // the proxy exits when its stdin closes
      await exited;
    },
  };
}

/** Runs the proxy in this process until stdin closes; prints the port it listens on. */
async function serve(targetHost, targetPort, delayMs) {
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
  process.stdout.write(`${server.address().port}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => {
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
  });
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
    if (timer === undefined) timer = setTimeout(drain, delayMs);
  };
  from.on("data", enqueue);
  from.on("end", () => enqueue(null));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [host, port, delay] = process.argv.slice(2);
  await serve(host, Number(port), Number(delay));
}
