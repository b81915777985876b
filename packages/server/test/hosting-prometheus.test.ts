import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBorgstoreCli } from "./real-tools.js";
import { type RunningPrometheus, dashboardQueries, findPrometheus, startPrometheus } from "./prometheus.js";
import { tempDir } from "./helpers.js";
import { type HostingProcess, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

/**
 * Issue 16 in hosting mode: Debian's Prometheus (2.42) scrapes the [metrics] listener of
 * `borgstore-server-rest --config FILE` every second while our CLI and the unmodified Python client
 * store known values into tenant repositories; PromQL over Prometheus's HTTP API must find them
 * per user and per repository, and every query of the Grafana dashboard must be accepted.
 */

const prometheusBin = findPrometheus("the hosting-mode Prometheus scrape test");
const peer = requireReferencePeer("the reference REST client feeding the hosting-mode Prometheus test", ["requests"]);

function put(url: string, name: string, size: number): Promise<{ status: number | null; stderr: string }> {
  return runBorgstoreCli([url, "put", name, "-"], "x".repeat(size));
}

describe.skipIf(!prometheusBin)("Prometheus scraping the hosting mode's /metrics", () => {
  const dir = tempDir("borgstore-hosting-prometheus-");
  let server: HostingProcess;
  let prometheus: RunningPrometheus;

  beforeAll(async () => {
    const folder = join(dir.path, "host");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", bob: "bpw" });
    const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, "[metrics]\nport = 0");
    server = await startHosting(config);
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr())?.[1]);
    prometheus = await startPrometheus(prometheusBin as string, dir.path, "borgstore-hosting", `127.0.0.1:${metricsPort}`);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
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
    await prometheus.eventually(`up{${job}}`, 1);
    await prometheus.eventually(`borgstore_stored_bytes{${job},user="alice",repo="alice/laptop"}`, 12_345);
    await prometheus.eventually(`borgstore_stored_objects{${job},user="alice",repo="alice/laptop"}`, 2);
    await prometheus.eventually(`sum by (user) (borgstore_stored_bytes{${job},user="bob"})`, pythonBytes);
    await prometheus.eventually(`sum(borgstore_received_bytes_total{${job},user="alice",repo="alice/laptop",operation="store"})`, 12_345);
    await prometheus.eventually(`sum(borgstore_requests_total{${job},user="alice",repo="alice/laptop",operation="store",status_class="2xx"})`, 2);
    await prometheus.eventually(`sum(borgstore_request_duration_seconds_count{${job},user="alice",repo="alice/laptop",operation="store"})`, 2);
    await prometheus.eventually(`count(time() - borgstore_last_write_timestamp_seconds{${job},user="alice",repo="alice/laptop"} < 60)`, 1);
    if (peer) {
      await prometheus.eventually(`sum(borgstore_sent_bytes_total{${job},user="bob",repo="bob/desktop",operation="load"})`, 7000);
      await prometheus.eventually(`count(time() - borgstore_last_write_timestamp_seconds{${job},user="bob",repo="bob/desktop"} < 60)`, 1);
    }
  }, 90_000);

  it("accepts every query of the Grafana dashboard, and its per-user panels show the tenants", async () => {
    const exprs = dashboardQueries();
    for (const { title, expr } of exprs) {
      const answer = await prometheus.query(expr);
      expect(answer.status, `${title}: ${expr}: ${answer.error}`).toBe("success");
    }
    // A rate needs two scrapes of a series: polled until then.
    const deadline = Date.now() + 15_000;
    for (const title of ["Stored bytes", "Stored per user", "Requests and server errors per user", "Time since the last write"]) {
      for (;;) {
        const users = new Set<string>();
        for (const { expr } of exprs.filter((e) => e.title === title)) for (const r of (await prometheus.query(expr)).data.result) users.add(r.metric.user ?? "");
        if (users.has("alice")) break;
        expect(Date.now() < deadline, `${title} never showed alice: ${[...users]}`).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }, 30_000);
});
