import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend } from "@borgstore/core";
import { runConformanceSuite } from "@borgstore/testkit";
import { afterAll, beforeAll } from "vitest";
import { RestBackend } from "../src/index.js";
import { type RunningServer, freePort, startHosting } from "./helpers/server.js";

// Our server in hosting mode (--config): every test gets a fresh repository of alice's under
// /alice/<repo>/, over posixfs. (Quota in hosting mode: packages/server/test/hosting-quota.test.ts.)
const root = mkdtempSync(join(tmpdir(), "borgstore-rest-hosting-"));
let server: RunningServer;
const repos = new Map<Backend, string>();
let n = 0;

beforeAll(async () => {
  execFileSync("htpasswd", ["-cbB", "-C", "4", join(root, "htpasswd"), "alice", "a pw"], { stdio: "ignore" });
  const port = await freePort();
  writeFileSync(
    join(root, "hosting.toml"),
    `htpasswd = "htpasswd"\n[listen]\nport = ${port}\n[repositories]\nbackend = "file://${root}/repos/{user}/{repo}"\nauto_create = true\n`,
  );
  server = await startHosting(join(root, "hosting.toml"), port);
});

afterAll(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

function tenant(repo: string): RestBackend {
  const backend = new RestBackend({ url: `${server.url.replace("//", "//alice:a%20pw@")}/alice/${repo}/`, retryDelay: 50, env: {} });
  repos.set(backend, repo);
  return backend;
}

runConformanceSuite({
  name: "rest over TCP to our server in hosting mode (a tenant repository)",
  factory: () => tenant(`r${n++}`),
  // The transfer paths are the single-store mode's (conformance-tcp.test.ts): smaller sizes keep this file fast.
  maxValueSize: 1_000_000,
  streamValueSize: 1024 * 1024,
  raceMs: 300,
  cleanup: async (backend) => {
    const repo = repos.get(backend);
    repos.delete(backend);
    if (repo) await rm(join(root, "repos", "alice", repo), { recursive: true, force: true });
  },
});
