import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Health } from "./health.js";
import type { ServerMetrics } from "./metrics.js";

/**
 * The observability listener: GET /metrics (Prometheus text format) and GET /healthz, on an
 * address of its own. The REST protocol owns every path of the main listener (`/metrics` is an
 * item name there), and a separate address lets a firewall or nginx keep it from clients.
 */
export function createMetricsServer(metrics: ServerMetrics, health: () => Promise<Health>): Server {
  return createServer({ requestTimeout: 10_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const head = req.method === "HEAD";
    const answer = (status: number, type: string, body: string) => {
      res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
      res.end(head ? undefined : body);
    };
    if (req.method !== "GET" && !head) {
      res.setHeader("Allow", "GET, HEAD");
      return answer(405, "text/plain", "Method Not Allowed\n");
    }
    if (path === "/metrics")
      return void metrics.render().then(
        (text) => answer(200, metrics.contentType, text),
        () => answer(500, "text/plain", "metrics failed\n"),
      );
    if (path === "/healthz")
      return void health().then(
        (h) => answer(h.ok ? 200 : 503, "text/plain", h.ok ? "ok\n" : `unhealthy: ${h.reason ?? "unknown"}\n`),
        () => answer(503, "text/plain", "unhealthy\n"),
      );
    answer(404, "text/plain", "Not Found: try /metrics or /healthz\n");
  });
}

/** Listens on host:port; resolves with the bound address. */
export function listenMetrics(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
