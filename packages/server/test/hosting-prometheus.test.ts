import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRealTool, runBorgstoreCli } from "./real-tools.js";
import { freePort, tempDir } from "./helpers.js";
import { type HostingProcess, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

/**
 * Issue 16 in hosting mode: Debian's Prometheus (2.42) scrapes the [metrics] listener of
 * `borgstore-server-rest --config FILE` every second while our CLI and the unmodified Python client
 * store known values into tenant repositories; PromQL over Prometheus's HTTP API must find them
 * per user and per repository, and every query of the Grafana dashboard must be accepted.
 */

const DASHBOARD = fileURLToPath(new URL("../docs/grafana-dashboard.json", import.meta.url));

const prometheusBin = findRealTool([process.env.PROMETHEUS_BIN, "/usr/bin/prometheus"], ["--version"], "Debian's prometheus is not installed (bash scripts/install-test-servers.sh): the hosting-mode Prometheus scrape test does not run");
const peer = requireReferencePeer("the reference REST client feeding the hosting-mode Prometheus test", ["requests"]);

function put(url: string, name: string, size: number): Promise<{ status: number | null; stderr: string }> {
  return runBorgstoreCli([url, "put", name, "-"], "x".repeat(size));
}

interface PromAnswer {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
  error?: string;
}

describe.skipIf(!prometheusBin)("Prometheus scraping the hosting mode's /metrics", () => {
  const dir = tempDir("borgstore-hosting-prometheus-");
  let server: HostingProcess;
  let prometheus: ChildProcess;
  let prometheusLog = "";
  let api = "";

  async function query(promql: string): Promise<PromAnswer> {
    return (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`)).json()) as PromAnswer;
  }

  /** Polls `promql` until its single value is `expected` (scrapes come every second). */
  async function eventually(promql: string, expected: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await query(promql);
      if (answer.status === "success" && answer.data.result.length === 1 && Number(answer.data.result[0]?.value[1]) === expected) return;
      if (Date.now() > deadline)
        throw new Error(`${promql} never became ${expected}; last answer: ${JSON.stringify(answer.data?.result)}\n${prometheusLog.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  beforeAll(async () => {
    const folder = join(dir.path, "host");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", bob: "bpw" });
    const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, "[metrics]\nport = 0");
    server = await startHosting(config);
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr())?.[1]);
    const prometheusConfig = join(dir.path, "prometheus.yml");
    writeFileSync(
      prometheusConfig,
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: borgstore-hosting",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${metricsPort}"]`,
        "",
      ].join("\n"),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      prometheusBin as string,
      [`--config.file=${prometheusConfig}`, `--storage.tsdb.path=${join(dir.path, "tsdb")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr?.setEncoding("utf8").on("data", (t: string) => (prometheusLog += t));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (await fetch(`${api}/-/ready`).then((r) => r.ok, () => false)) break;
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

  it("finds, through PromQL, per user and repository, the bytes our CLI and the Python client stored into tenant repositories", async () => {
    // No wait for the first scrape (Prometheus applies new targets after ~5 s): the stores overlap it.
    const { port } = server;
    for (const [login, repo] of [["alice:apw", "alice/laptop"], ["bob:bpw", "bob/desktop"]] as const)
      expect((await rawRequest(port, "POST", `/${repo}/?cmd=create`, { login })).status).toBe(200);
    const stored = await put(`http://alice:apw@127.0.0.1:${port}/alice/laptop/`, "data/from-cli", 10_000);
    expect(stored.status, stored.stderr).toBe(0);
    expect((await rawRequest(port, "POST", "/alice/laptop/data/from-raw", { login: "alice:apw", body: Buffer.alloc(2_345) })).status).toBe(200);
    let pythonBytes = 0;
    if (peer) {
      const code = `
import sys
from borgstore.backends.rest import REST
client = REST(sys.argv[1], "bob", "bpw")
client.open()
client.store("data/from-python-1", b"p" * 7000)
client.store("data/from-python-2", b"q" * 300)
assert client.load("data/from-python-1") == b"p" * 7000
client.close()
`;
      const result = await runReferencePython(peer, code, { args: [`http://127.0.0.1:${port}/bob/desktop/`], timeoutMs: 60_000 });
      expect(result.status, result.stderr).toBe(0);
      pythonBytes = 7300;
    }
    const job = 'job="borgstore-hosting"';
    await eventually(`up{${job}}`, 1);
    await eventually(`borgstore_stored_bytes{${job},user="alice",repo="alice/laptop"}`, 12_345);
    await eventually(`borgstore_stored_objects{${job},user="alice",repo="alice/laptop"}`, 2);
    await eventually(`sum by (user) (borgstore_stored_bytes{${job},user="bob"})`, pythonBytes);
    await eventually(`sum(borgstore_received_bytes_total{${job},user="alice",repo="alice/laptop",operation="store"})`, 12_345);
    await eventually(`sum(borgstore_requests_total{${job},user="alice",repo="alice/laptop",operation="store",status_class="2xx"})`, 2);
    await eventually(`sum(borgstore_request_duration_seconds_count{${job},user="alice",repo="alice/laptop",operation="store"})`, 2);
    await eventually(`count(time() - borgstore_last_write_timestamp_seconds{${job},user="alice",repo="alice/laptop"} < 60)`, 1);
    if (peer) {
      await eventually(`sum(borgstore_sent_bytes_total{${job},user="bob",repo="bob/desktop",operation="load"})`, 7000);
      await eventually(`count(time() - borgstore_last_write_timestamp_seconds{${job},user="bob",repo="bob/desktop"} < 60)`, 1);
    }
  }, 90_000);

  it("accepts every query of the Grafana dashboard, and its per-user panels show the tenants", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: { title: string; targets: { expr: string }[] }[] };
    const promql = (expr: string) => expr.replaceAll("$user", ".*").replaceAll("$repo", ".*").replaceAll("$__rate_interval", "1m");
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: promql(t.expr) })));
    for (const { title, expr } of exprs) {
      const answer = await query(expr);
      expect(answer.status, `${title}: ${expr}: ${answer.error}`).toBe("success");
    }
    // A rate needs two scrapes of a series: polled until then.
    const deadline = Date.now() + 15_000;
    for (const title of ["Stored bytes", "Stored per user", "Requests and server errors per user", "Time since the last write"]) {
      for (;;) {
        const users = new Set<string>();
        for (const { expr } of exprs.filter((e) => e.title === title)) for (const r of (await query(expr)).data.result) users.add(r.metric.user ?? "");
        if (users.has("alice")) break;
        expect(Date.now() < deadline, `${title} never showed alice: ${[...users]}`).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }, 30_000);
});
