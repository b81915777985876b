import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRealTool, runBorgstoreCli } from "./real-tools.js";
import { type ServerProcess, freePort, startServer, tempDir } from "./helpers.js";

/**
 * Issue 16: Debian's Prometheus (2.42) scrapes our /metrics every second while our CLI and the
 * unmodified Python client store known values; PromQL over Prometheus's HTTP API must find them.
 */

const DASHBOARD = fileURLToPath(new URL("../docs/grafana-dashboard.json", import.meta.url));

const prometheusBin = findRealTool([process.env.PROMETHEUS_BIN, "/usr/bin/prometheus"], ["--version"], "Debian's prometheus is not installed (bash scripts/install-test-servers.sh): the real-Prometheus scrape test does not run");
const peer = requireReferencePeer("the reference REST client feeding the Prometheus test", ["requests"]);

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

describe.skipIf(!prometheusBin)("Prometheus scraping /metrics", () => {
  const dir = tempDir();
  let server: ServerProcess;
  let prometheus: ChildProcess;
  let prometheusLog = "";
  let api = "";

  async function query(promql: string): Promise<{ status: string; data: { resultType: string; result: PromVector[] }; error?: string }> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    return (await res.json()) as { status: string; data: { resultType: string; result: PromVector[] }; error?: string };
  }

  /** Polls `promql` until its single value is `expected` (scrapes come every second). */
  async function eventually(promql: string, expected: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    let last: unknown;
    for (;;) {
      const answer = await query(promql);
      last = answer.data?.result;
      if (answer.status === "success" && answer.data.result.length === 1 && Number(answer.data.result[0]?.value[1]) === expected) return;
      if (Date.now() > deadline) throw new Error(`${promql} never became ${expected}; last answer: ${JSON.stringify(last)}\n${prometheusLog.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  beforeAll(async () => {
    server = await startServer(
      ["--backend", `file://${join(dir.path, "store")}`, "--create", "--quota", "100M", "--metrics-listen", "127.0.0.1:0"],
      { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" },
    );
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\//.exec(server.stderr())?.[1]);
    const config = join(dir.path, "prometheus.yml");
    writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: borgstore",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${metricsPort}"]`,
        "",
      ].join("\n"),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      prometheusBin as string,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir.path, "tsdb")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr?.setEncoding("utf8").on("data", (t: string) => (prometheusLog += t));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await fetch(`${api}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (prometheus.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus did not start:\n${prometheusLog}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 60_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus.once("exit", resolve));
      prometheus.kill("SIGTERM");
      await exited;
    }
    if (server) expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("finds, through PromQL, the bytes our CLI and the Python client stored", async () => {
    await eventually('up{job="borgstore"}', 1);
    const url = `http://testuser:testpass@127.0.0.1:${server.port}/`;
    for (const [name, size] of [["data/from-cli-1", 10_000], ["data/from-cli-2", 2_345]] as const) {
      const put = await runBorgstoreCli([url, "put", name, "-"], "x".repeat(size));
      expect(put.status, put.stderr).toBe(0);
    }
    let pythonBytes = 0;
    if (peer) {
      const code = `
import sys
from borgstore.backends.rest import REST
client = REST(sys.argv[1], "testuser", "testpass")
client.open()
client.store("data/from-python-1", b"p" * 7000)
client.store("data/from-python-2", b"q" * 300)
assert client.load("data/from-python-1") == b"p" * 7000
client.close()
`;
      const result = await runReferencePython(peer, code, { args: [`http://127.0.0.1:${server.port}/`], timeoutMs: 60_000 });
      expect(result.status, result.stderr).toBe(0);
      pythonBytes = 7300;
    }
    const stored = 12_345 + pythonBytes;
    await eventually('sum(borgstore_received_bytes_total{job="borgstore",user="testuser",repo="",operation="store"})', stored);
    await eventually('borgstore_stored_bytes{job="borgstore",repo=""}', stored);
    await eventually('sum(borgstore_requests_total{job="borgstore",user="testuser",operation="store",status_class="2xx"})', peer ? 4 : 2);
    if (peer) await eventually('sum(borgstore_sent_bytes_total{job="borgstore",user="testuser",operation="load"})', 7000);
    // The last write is a recent unix time (within a minute of Prometheus's clock).
    await eventually('count(time() - borgstore_last_write_timestamp_seconds{job="borgstore",user="testuser"} < 60)', 1);
  }, 90_000);

  it("accepts every query of the Grafana dashboard", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(5);
    for (const { title, expr } of exprs) {
      const promql = expr.replaceAll("$user", ".*").replaceAll("$repo", ".*").replaceAll("$__rate_interval", "1m");
      const answer = await query(promql);
      expect(answer.status, `${title}: ${promql}: ${answer.error}`).toBe("success");
    }
    // The panels this test's traffic feeds show something. A rate needs two scrapes of a series, and
    // the test before this one waited for one only: asked again (Prometheus scrapes every second).
    for (const title of ["Stored bytes", "Time since the last write", "Requests by operation", "Bytes in and out"]) {
      let found = 0;
      for (const deadline = Date.now() + 15_000; found === 0 && Date.now() < deadline; ) {
        for (const { expr } of exprs.filter((e) => e.title === title)) {
          const promql = expr.replaceAll("$user", ".*").replaceAll("$repo", ".*").replaceAll("$__rate_interval", "1m");
          found += (await query(promql)).data.result.length;
        }
        if (found === 0) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(found, title).toBeGreaterThan(0);
    }
  }, 30_000);
});
