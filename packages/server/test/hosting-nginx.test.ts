import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRealTool, runBorgstoreCli } from "./real-tools.js";
import { freePort, tempDir } from "./helpers.js";
import { type HostingProcess, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

/**
 * Issue 16: Debian's nginx in front of the hosting mode (contrib/nginx/borgstore-proxy.conf, the
 * request target passed on unchanged), the unmodified Python client and our CLI backing up
 * through it into tenant repositories; the metrics and the access log must count each request
 * under its login's user and repository, as without the proxy.
 */

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

const nginxBin = findRealTool([process.env.NGINX_BIN, "/usr/sbin/nginx"], ["-v"], "Debian's nginx is not installed (bash scripts/install-test-servers.sh): the hosting mode behind nginx does not run");
const peer = requireReferencePeer("the reference REST client backing up through nginx into a tenant repository", ["requests"]);

function put(url: string, name: string, size: number): Promise<{ status: number | null; stderr: string }> {
  return runBorgstoreCli([url, "put", name, "-"], "n".repeat(size));
}

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe.skipIf(!nginxBin)("the hosting mode behind nginx", () => {
  const dir = tempDir("borgstore-hosting-nginx-");
  let server: HostingProcess;
  let nginx: ChildProcess;
  let nginxLog = "";
  let proxyPort = 0;
  let metricsPort = 0;

  beforeAll(async () => {
    const folder = join(dir.path, "host");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", bob: "bpw" });
    const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, '[metrics]\nport = 0\n\n[log]\nformat = "json"');
    server = await startHosting(config);
    metricsPort = Number(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(server.stderr())?.[1]);
    proxyPort = await freePort();
    const nginxDir = join(dir.path, "nginx");
    mkdirSync(join(nginxDir, "tmp"), { recursive: true });
    const conf = join(nginxDir, "nginx.conf");
    writeFileSync(
      conf,
      `${process.getuid?.() === 0 ? "user root;\n" : ""}daemon off;
worker_processes 1;
pid ${nginxDir}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${nginxDir}/tmp/client_body;
  proxy_temp_path ${nginxDir}/tmp/proxy;
  fastcgi_temp_path ${nginxDir}/tmp/fastcgi;
  uwsgi_temp_path ${nginxDir}/tmp/uwsgi;
  scgi_temp_path ${nginxDir}/tmp/scgi;
  server {
    listen 127.0.0.1:${proxyPort};
    client_max_body_size 0;
    location / {
      include ${REPO_ROOT}contrib/nginx/borgstore-proxy.conf;
      # No URI part: the request target goes upstream as the client sent it (never decoded).
      proxy_pass http://127.0.0.1:${server.port};
    }
  }
}
`,
    );
    nginx = spawn(nginxBin as string, ["-c", conf, "-p", nginxDir], { stdio: ["ignore", "ignore", "pipe"] });
    nginx.stderr?.setEncoding("utf8").on("data", (t: string) => (nginxLog += t));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if ((await rawRequest(proxyPort, "GET", "/healthz").catch(() => ({ status: 0 }))).status === 200) break;
      if (nginx.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start:\n${nginxLog}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 60_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx.once("exit", resolve));
      nginx.kill("SIGQUIT");
      await exited;
    }
    if (server) expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("backs up through nginx into tenant repositories (Python client and our CLI), counted under each login's user and repository", async () => {
    for (const [login, repo] of [["alice:apw", "alice/laptop"], ["bob:bpw", "bob/desktop"]] as const)
      expect((await rawRequest(proxyPort, "POST", `/${repo}/?cmd=create`, { login })).status).toBe(200);
    const stored = await put(`http://alice:apw@127.0.0.1:${proxyPort}/alice/laptop/`, "data/from-cli", 4321);
    expect(stored.status, stored.stderr).toBe(0);
    if (peer) {
      const code = `
import sys
from borgstore.backends.rest import REST
client = REST(sys.argv[1], "bob", "bpw")
client.open()
client.store("data/from-python", b"p" * 6000)
assert client.load("data/from-python") == b"p" * 6000
assert [i.name for i in client.list("data")] == ["from-python"]
client.close()
`;
      const result = await runReferencePython(peer, code, { args: [`http://127.0.0.1:${proxyPort}/bob/desktop/`], timeoutMs: 60_000 });
      expect(result.status, result.stderr).toBe(0);
    }
    // Encoded and dot segments reach the server as sent: no path through nginx leads bob into alice's repository.
    for (const target of ["/alice/laptop/data/from-cli", "/bob/%2e%2e/alice/laptop/data/from-cli", "/bob/desktop/..%2f..%2falice/laptop/data/from-cli", "/%61lice/laptop/data/from-cli"]) {
      const answer = await rawRequest(proxyPort, "GET", target, { login: "bob:bpw" });
      expect([400, 404], target).toContain(answer.status);
    }

    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(sample(text, "borgstore_stored_bytes", 'user="alice",repo="alice/laptop"')).toBe(4321);
    expect(sample(text, "borgstore_received_bytes_total", 'user="alice",repo="alice/laptop",operation="store"')).toBe(4321);
    expect(sample(text, "borgstore_requests_total", 'user="alice",repo="alice/laptop",operation="store",status_class="2xx"')).toBe(1);
    if (peer) {
      expect(sample(text, "borgstore_stored_bytes", 'user="bob",repo="bob/desktop"')).toBe(6000);
      expect(sample(text, "borgstore_sent_bytes_total", 'user="bob",repo="bob/desktop",operation="load"')).toBe(6000);
      expect(sample(text, "borgstore_requests_total", 'user="bob",repo="bob/desktop",operation="list",status_class="2xx"')).toBeGreaterThanOrEqual(1);
    }
    // bob's tries at alice's repository count as his, under no repository of alice's.
    expect(text).not.toMatch(/user="bob",repo="alice\//);
    expect(sample(text, "borgstore_requests_total", 'user="bob",repo="-",operation="load",status_class="4xx"')).toBeGreaterThanOrEqual(3);

    const access = server
      .stderr()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.log === "access");
    expect(access).toContainEqual(expect.objectContaining({ user: "alice", repo: "alice/laptop", op: "store", status: 200, bytes_in: 4321 }));
    if (peer) expect(access).toContainEqual(expect.objectContaining({ user: "bob", repo: "bob/desktop", op: "load", status: 200, bytes_out: 6000 }));
  }, 60_000);
});
