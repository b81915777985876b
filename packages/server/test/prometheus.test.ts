import { join } from "node:path";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBorgstoreCli } from "./real-tools.js";
import { type ServerProcess, startServer, tempDir } from "./helpers.js";
import { type RunningPrometheus, dashboardQueries, findPrometheus, startPrometheus } from "./prometheus.js";

/**
 * Issue 16: Debian's Prometheus (2.42) scrapes our /metrics every second while our CLI and the
 * unmodified Python client store known values; PromQL over Prometheus's HTTP API must find them.
 */

const prometheusBin = findPrometheus("the real-Prometheus scrape test");
const peer = requireReferencePeer("the reference REST client feeding the Prometheus test", ["requests"]);

describe.skipIf(!prometheusBin)("Prometheus scraping /metrics", () => {
  const dir = tempDir();
  let server: ServerProcess;
  let prometheus: RunningPrometheus;

  beforeAll(async () => {
    server = await startServer(
      ["--backend", `file://${join(dir.path, "store")}`, "--create", "--quota", "100M", "--metrics-listen", "127.0.0.1:0"],
      { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" },
    );
    const metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\//.exec(server.stderr())?.[1]);
    prometheus = await startPrometheus(prometheusBin as string, dir.path, "borgstore", `127.0.0.1:${metricsPort}`);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    if (server) expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("finds, through PromQL, the bytes our CLI and the Python client stored", async () => {
    await prometheus.eventually('up{job="borgstore"}', 1);
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
    await prometheus.eventually('sum(borgstore_received_bytes_total{job="borgstore",user="testuser",repo="",operation="store"})', stored);
    await prometheus.eventually('borgstore_stored_bytes{job="borgstore",repo=""}', stored);
    await prometheus.eventually('sum(borgstore_requests_total{job="borgstore",user="testuser",operation="store",status_class="2xx"})', peer ? 4 : 2);
    if (peer) await prometheus.eventually('sum(borgstore_sent_bytes_total{job="borgstore",user="testuser",operation="load"})', 7000);
    // The last write is a recent unix time (within a minute of Prometheus's clock).
    await prometheus.eventually('count(time() - borgstore_last_write_timestamp_seconds{job="borgstore",user="testuser"} < 60)', 1);
  }, 90_000);

  it("accepts every query of the Grafana dashboard", async () => {
    const exprs = dashboardQueries();
    expect(exprs.length).toBeGreaterThan(5);
    for (const { title, expr } of exprs) {
      const answer = await prometheus.query(expr);
      expect(answer.status, `${title}: ${expr}: ${answer.error}`).toBe("success");
    }
    // The panels this test's traffic feeds show something. A rate needs two scrapes of a series, and
    // the test before this one waited for one only: asked again (Prometheus scrapes every second).
    for (const title of ["Stored bytes", "Time since the last write", "Requests by operation", "Bytes in and out"]) {
      let found = 0;
      for (const deadline = Date.now() + 15_000; found === 0 && Date.now() < deadline; ) {
        for (const { expr } of exprs.filter((e) => e.title === title)) found += (await prometheus.query(expr)).data.result.length;
        if (found === 0) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(found, title).toBeGreaterThan(0);
    }
  }, 30_000);
});
