import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findRealTool } from "./real-tools.js";
import { freePort } from "./helpers.js";

/** Debian's Prometheus, or undefined (with a loud SKIP, or a failure under CI=true) when missing. */
export function findPrometheus(purpose: string): string | undefined {
  return findRealTool([process.env.PROMETHEUS_BIN, "/usr/bin/prometheus"], ["--version"], `Debian's prometheus is not installed (bash scripts/install-test-servers.sh): ${purpose} does not run`);
}

export interface PromAnswer {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
  error?: string;
}

export interface RunningPrometheus {
  /** One instant query over the HTTP API. */
  query(promql: string): Promise<PromAnswer>;
  /** Polls `promql` until its single value is `expected` (scrapes come every second). */
  eventually(promql: string, expected: number): Promise<void>;
  stop(): Promise<void>;
}

/** The Grafana dashboard's queries, with its variables filled in so that Prometheus can answer them. */
export function dashboardQueries(): { title: string; expr: string }[] {
  const path = fileURLToPath(new URL("../docs/grafana-dashboard.json", import.meta.url));
  const dashboard = JSON.parse(readFileSync(path, "utf8")) as { panels: { title: string; targets: { expr: string }[] }[] };
  const fill = (expr: string) => expr.replaceAll("$user", ".*").replaceAll("$repo", ".*").replaceAll("$__rate_interval", "1m");
  return dashboard.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: fill(t.expr) })));
}

/**
 * Starts `bin` on a free loopback port, scraping `target` (host:port) every second as job `job`,
 * its data in `dir`; resolves once Prometheus answers /-/ready.
 */
export async function startPrometheus(bin: string, dir: string, job: string, target: string): Promise<RunningPrometheus> {
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:", `  - job_name: ${job}`, "    static_configs:", `      - targets: ["${target}"]`, ""].join("\n"),
  );
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.setEncoding("utf8").on("data", (t: string) => (log += t));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  const query = async (promql: string) => (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`)).json()) as PromAnswer;
  for (const deadline = Date.now() + 30_000; ; ) {
    if (await fetch(`${api}/-/ready`).then((r) => r.ok, () => false)) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not start:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    query,
    stop,
    async eventually(promql, expected) {
      for (const deadline = Date.now() + 30_000; ; ) {
        const answer = await query(promql);
        if (answer.status === "success" && answer.data.result.length === 1 && Number(answer.data.result[0]?.value[1]) === expected) return;
        if (Date.now() > deadline) throw new Error(`${promql} never became ${expected}; last answer: ${JSON.stringify(answer.data?.result)}\n${log.slice(-2000)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
  };
}
