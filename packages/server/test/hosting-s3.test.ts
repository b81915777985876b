import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { ConditionalObjects } from "@borgstore/backend-s3";
import { requireTestServer } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { parseHostingConfig } from "../src/hosting/config.js";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, startHosting, writeHtpasswd } from "./hosting-helpers.js";

/**
 * Hosting mode over Ceph radosgw (scripts/test-servers/radosgw.sh): repositories from an `s3:`
 * template and the usage records in the bucket (`state_url`), as replicas behind a load balancer
 * share them (docs/scale-out.md).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const s3Url = requireTestServer("BORGSTORE_TEST_S3_URL", "hosting mode over S3 (Ceph radosgw)");
const run = `hosting-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;

const dir = tempDir("borgstore-hosting-s3-");
afterAll(() => dir.remove());

/** A config folder whose replicas share one bucket prefix for repositories and one for records. */
function replicaConfig(name: string, extra = ""): string {
  const folder = `${dir.path}/${name}`;
  mkdirSync(folder, { recursive: true });
  writeHtpasswd(`${folder}/htpasswd`, { alice: "apw", bob: "bpw" });
  const path = `${folder}/hosting.toml`;
  writeFileSync(
    path,
    `htpasswd = "htpasswd"\nstate_url = "${s3Url}/${run}-${name}-state"\n\n[listen]\nport = 0\n\n` +
      `[repositories]\nbackend = "${s3Url}/${run}-${name}/{user}/{repo}"\nauto_create = true\n\n${extra}\n`,
  );
  return path;
}

/** The record heartbeat at a third of its pace (as its wait before a clean write at shutdown). */
const FAST_HEARTBEAT = { heartbeatMs: 300, cleanAfterMs: 1000 };

async function inProcess(config: string, revalidateMs = 200): Promise<{ hosting: HostingServer; port: number }> {
  return listenHosting(config, { revalidateMs, recordHeartbeat: FAST_HEARTBEAT });
}

const call = (port: number, method: string, target: string, body?: Buffer, login = "alice:apw") =>
  rawRequest(port, method, target, { login, ...(body ? { body } : {}) });

async function quota(port: number, target = "/alice/laptop/"): Promise<{ usage: number; limit: number }> {
  const answer = await call(port, "POST", `${target}?cmd=quota`);
  expect(answer.status, answer.body).toBe(200);
  return JSON.parse(answer.body) as { usage: number; limit: number };
}

describe("state_url in the configuration", () => {
  const base = '[listen]\nport = 0\n[repositories]\nbackend = "s3:/b/r/{user}/{repo}"\n';
  it("takes an s3: or b2: URL with a bucket and a path, and refuses anything else naming the key", () => {
    const config = parseHostingConfig(`htpasswd = "h"\nstate_url = "s3:K:S@http://127.0.0.1:1/bucket/_state"\n${base}`, "/srv");
    expect(config.stateUrl).toBe("s3:K:S@http://127.0.0.1:1/bucket/_state");
    expect(parseHostingConfig(`htpasswd = "h"\n${base}`, "/srv").stateUrl).toBeUndefined();
    for (const url of ["file:///srv/state", "s3:/bucket-only", "https://rgw/bucket/x"])
      expect(() => parseHostingConfig(`htpasswd = "h"\nstate_url = "${url}"\n${base}`, "/srv")).toThrow(/state_url: an s3: or b2: URL/);
  });

  it("refuses records inside (or around) the prefix users' repositories are made under: a login named 'state' would own them", () => {
    const template = (url: string) => `htpasswd = "h"\nstate_url = "${url}"\n[listen]\nport = 0\n[repositories]\nbackend = "s3:K:S/x@http://rgw:1/b/repos/{user}/{repo}"\n`;
    expect(() => parseHostingConfig(template("s3:K2:S2@http://rgw:1/b/repos/state"), "/srv")).toThrow(/state_url: it is inside the key prefix/);
    expect(() => parseHostingConfig(template("s3:http://rgw:1/b/repos"), "/srv")).toThrow(/state_url: it is inside the key prefix/);
    expect(() => parseHostingConfig(template("s3:http://rgw:1/b"), "/srv")).toThrow(/state_url: it contains the key prefix/);
    expect(parseHostingConfig(template("s3:K:S/x@http://rgw:1/b/_state"), "/srv").stateUrl).toBe("s3:K:S/x@http://rgw:1/b/_state");
    expect(parseHostingConfig(template("s3:K:S/x@http://rgw:1/other/repos/state"), "/srv").stateUrl).toBeDefined();
  });
});

describe.skipIf(!s3Url)("hosting mode over S3", () => {
  it("stores and loads through a tenant repository whose store is an s3: template on radosgw", async () => {
    const { hosting, port } = await inProcess(replicaConfig("basic"));
    try {
      expect((await call(port, "POST", "/alice/laptop/?cmd=create")).status).toBe(200);
      const value = randomBytes(3000);
      expect((await call(port, "POST", "/alice/laptop/v1", value)).status).toBe(200);
      const loaded = await call(port, "GET", "/alice/laptop/v1");
      expect(loaded.status).toBe(200);
      expect(Buffer.compare(loaded.bytes, value)).toBe(0);
      expect(await quota(port)).toEqual({ limit: -1, usage: -1 });
      expect((await call(port, "GET", "/alice/laptop/v1", undefined, "bob:bpw")).status).toBe(404);
    } finally {
      await hosting.shutdown();
    }
    const records = ConditionalObjects.fromUrl(`${s3Url}/${run}-basic-state`);
    const record = await records.get("alice/laptop.usage.json");
    expect(JSON.parse(record?.text ?? "{}")).toMatchObject({ bytes: 3000, objects: 1, clean: true });
  });

  it("a replica taking over after kill -9 reads the record not clean and measures: usage and quota right", async () => {
    const config = replicaConfig("crash", "[users.alice]\nquota = 20000");
    const first = await startHosting(config);
    expect((await call(first.port, "POST", "/alice/laptop/?cmd=create")).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await call(first.port, "POST", `/alice/laptop/v${i}`, randomBytes(4000))).status).toBe(200);
    expect((await quota(first.port)).usage).toBe(16000);
    const secret = /^s3:[^:@]+:([^@]+)@/.exec(s3Url as string)?.[1];
    if (secret) expect(first.stderr()).not.toContain(secret);
    first.child.kill("SIGKILL");
    await first.exited;
    const record = await ConditionalObjects.fromUrl(`${s3Url}/${run}-crash-state`).get("alice/laptop.usage.json");
    expect(JSON.parse(record?.text ?? "{}")).toMatchObject({ clean: false });

    const { hosting, port } = await inProcess(config);
    try {
      expect(await quota(port)).toEqual({ limit: 20000, usage: 16000 });
      expect((await call(port, "POST", "/alice/laptop/big", randomBytes(5000))).status).toBe(507);
      expect((await call(port, "POST", "/alice/laptop/fits", randomBytes(4000))).status).toBe(200);
    } finally {
      await hosting.shutdown();
    }
  }, 30_000);

  it("a replica that served a user before another did reads the other's figures, and never writes its stale ones back as clean", async () => {
    const config = replicaConfig("handover", "[users.alice]\nquota = 100000");
    const a = await inProcess(config);
    const b = await inProcess(config);
    try {
      expect((await call(a.port, "POST", "/alice/laptop/?cmd=create")).status).toBe(200);
      expect((await call(a.port, "POST", "/alice/laptop/x", randomBytes(1000))).status).toBe(200);
      expect((await quota(a.port)).usage).toBe(1000);
      // The user moves to b (a failover), which measures, then writes more.
      expect((await quota(b.port)).usage).toBe(1000);
      expect((await call(b.port, "POST", "/alice/laptop/y", randomBytes(2000))).status).toBe(200);
      expect((await quota(b.port)).usage).toBe(3000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Back to a after a quiet moment: a sees b's writes to the records and reads them afresh.
      expect((await quota(a.port)).usage).toBe(3000);
      expect((await call(a.port, "POST", "/alice/laptop/z", randomBytes(500))).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await quota(b.port)).usage).toBe(3500);
      expect((await call(b.port, "POST", "/alice/laptop/w", randomBytes(100))).status).toBe(200);
    } finally {
      // a closes with figures that miss b's last write: its clean record must not replace b's.
      await a.hosting.shutdown();
    }
    const records = ConditionalObjects.fromUrl(`${s3Url}/${run}-handover-state`);
    expect(JSON.parse((await records.get("alice/laptop.usage.json"))?.text ?? "{}")).toMatchObject({ clean: false });
    // b "crashes" (never closes); a third replica measures, and so is right.
    const c = await inProcess(config);
    try {
      expect((await quota(c.port)).usage).toBe(3600);
    } finally {
      await c.hosting.shutdown();
      await b.hosting.shutdown();
    }
  }, 30_000);

  it("after two replicas served a user at once, the one left measures instead of trusting the other's clean record", async () => {
    const config = replicaConfig("overlap", "[users.alice]\nquota = 100000");
    // a stays busy (no quiet second): it does not look at the records between its requests.
    const a = await inProcess(config, 2000);
    const b = await inProcess(config);
    try {
      expect((await call(a.port, "POST", "/alice/laptop/?cmd=create")).status).toBe(200);
      expect((await call(a.port, "POST", "/alice/laptop/x", randomBytes(1000))).status).toBe(200);
      expect((await quota(b.port)).usage).toBe(1000);
      expect((await call(b.port, "POST", "/alice/laptop/y", randomBytes(2000))).status).toBe(200);
      // Stored on a after b measured: b's figures never see it.
      expect((await call(a.port, "POST", "/alice/laptop/z", randomBytes(400))).status).toBe(200);
      await b.hosting.shutdown();
      const records = ConditionalObjects.fromUrl(`${s3Url}/${run}-overlap-state`);
      // Not clean: a's heartbeat wrote the record while b held it, so b's figures (missing z) are not trusted.
      expect(JSON.parse((await records.get("alice/laptop.usage.json"))?.text ?? "{}")).toMatchObject({ clean: false });
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect((await quota(a.port)).usage).toBe(3400);
    } finally {
      await a.hosting.shutdown();
    }
  }, 30_000);
});
