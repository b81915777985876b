import { readFile, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { requireTestServer } from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { parseHostingConfig } from "../src/hosting/config.js";
import type { HostingServer } from "../src/index.js";
import { call, heldUpload, quotaUsage, replicasClosedAfterEach, servedByAnotherForAMoment } from "./scaleout-replicas-bc.js";

const s3Url = requireTestServer("BORGSTORE_TEST_S3_URL", "hosting scale-out breaker (radosgw)");

describe.skipIf(!s3Url)("hosting replicas over one radosgw bucket (breaker BC)", () => {
  const startReplicas = replicasClosedAfterEach(s3Url);

  it("counts an upload in flight when another replica's record makes this one load the user afresh", async () => {
    const replicas = await startReplicas(2);
    const [a, b] = replicas.urls as [string, string];
    expect((await call(a, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(a, "POST", "/alice/one/data/first", new Uint8Array(1000))).status).toBe(200);
    // Replica B serves alice for a moment (nginx's hash moved): it creates a second repository.
    expect((await call(b, "POST", "/alice/two/?cmd=create")).status).toBe(200);
    expect((await call(b, "POST", "/alice/two/data/x", new Uint8Array(10))).status).toBe(200);

    // Back on A: an upload into "one" is in flight when a request for "two" finds B's record.
    const upload = heldUpload(a, "/alice/one/data/held", new Uint8Array(50_000));
    await sleep(300);
    const other = call(a, "GET", "/alice/two/data/x");
    await sleep(1500);
    expect(await upload.finish()).toBe(200);
    expect((await other).status).toBe(200);

    // A measured "one" again while the upload was in flight: its figures must still count it.
    expect(await quotaUsage(a, "/alice/one")).toBe(51_000);
  });

  it("answers a request whose user's records another replica wrote twice while this one loaded them, instead of a 500 no client retries", async () => {
    const replicas = await startReplicas(2);
    const [a, b] = replicas.urls as [string, string];
    expect((await call(a, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(a, "POST", "/alice/one/data/first", new Uint8Array(1000))).status).toBe(200);
    expect((await call(b, "POST", "/alice/two/?cmd=create")).status).toBe(200);
    // A loads alice afresh (B's record of "two"), and waits for its upload into "one" to measure it...
    const upload = heldUpload(a, "/alice/one/data/held", new Uint8Array(50_000));
    await sleep(300);
    const other = call(a, "POST", "/alice/two/?cmd=quota");
    await sleep(1500);
    // ...while B writes the record of "one" again (B serves alice too, and was quiet there for a second).
    expect((await call(b, "GET", "/alice/one/data/first")).status).toBe(200);
    expect(await upload.finish()).toBe(200);
    expect((await other).status).toBe(200);
    expect(await quotaUsage(a, "/alice/one")).toBe(51_000);
  });

  it("answers /_usage on a replica that is not the user's owner with the figures the owner wrote since, not those of its first answer", async () => {
    const replicas = await startReplicas(2);
    const [owner, other] = replicas.urls as [string, string];
    const usage = async (base: string) => (JSON.parse((await call(base, "GET", "/_usage")).text) as { bytes: number }).bytes;
    expect((await call(owner, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(owner, "POST", "/alice/one/data/first", new Uint8Array(1000))).status).toBe(200);
    // nginx sends /_usage by the hash of "" (no "/<user>/" in it): here to the other replica, which
    // answers the record as the owner wrote it (at create: nothing yet).
    expect(await usage(other)).toBe(0);
    expect((await call(owner, "POST", "/alice/one/data/second", new Uint8Array(5000))).status).toBe(200);
    await replicas.servers[0]?.shutdown(1000);
    // The owner wrote its figures (clean, 6000) when it stopped; the other replica asked a second later.
    await sleep(1200);
    expect(await usage(other)).toBe(6000);
  });

  it("answers /_usage on a replica that is not the user's owner without writing the user's records, so the owner's stay not clean while it serves", async () => {
    const replicas = await startReplicas(2);
    const [owner, other] = replicas.urls as [string, string];
    expect((await call(owner, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(owner, "POST", "/alice/one/data/first", new Uint8Array(1000))).status).toBe(200);
    expect((await call(other, "GET", "/_usage")).status).toBe(200);
    // The other replica stops (or closes alice's repositories when idle); the owner goes on storing.
    await replicas.servers[1]?.shutdown(1000);
    expect((await call(owner, "POST", "/alice/one/data/second", new Uint8Array(5000))).status).toBe(200);
    // The owner dies here (kill -9): its successor must not find a clean record of the other's figures.
    expect((JSON.parse((await replicas.records.get("alice/one.usage.json"))?.text ?? "{}") as { clean: boolean }).clean).toBe(false);
    const successor = await startReplicas(1, "", "", replicas.prefix);
    expect(await quotaUsage(successor.urls[0] as string, "/alice/one")).toBe(6000);
  });

  it("keeps the state_url in force on a reload that changes it (the records stay where the replica opened them), and says so", async () => {
    const replicas = await startReplicas(1);
    const server = replicas.servers[0] as HostingServer;
    const file = replicas.configFiles[0] as string;
    const lines: string[] = [];
    replicas.logTo(lines);
    const text = await readFile(file, "utf8");
    for (const changed of [text.replace(/^state_url = .*$/m, ""), text.replace(/_state"/, '_elsewhere"')]) {
      await writeFile(file, changed);
      await server.reload();
      expect(server.config().stateUrl).toBe(replicas.stateUrl);
    }
    expect(lines.join("").match(/state_url: changing it takes a restart/g)).toHaveLength(2);
  });

  it("measures a repository whose record in the bucket was hand-edited to negative figures, instead of trusting them against the quota", async () => {
    const replicas = await startReplicas(1);
    const [a] = replicas.urls as [string];
    expect((await call(a, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(a, "POST", "/alice/one/data/first", new Uint8Array(1000))).status).toBe(200);
    await replicas.servers[0]?.shutdown(1000);
    // Written clean at shutdown; an operator's tool (or anyone with the bucket's key) edits it.
    await replicas.records.put("alice/one.usage.json", `${JSON.stringify({ bytes: -20_000_000, objects: -5, clean: true })}\n`, (await replicas.records.get("alice/one.usage.json"))?.etag);
    const again = await startReplicas(1, "", "", replicas.prefix);
    const [b] = again.urls as [string];
    expect(await quotaUsage(b, "/alice/one")).toBe(1000);
    // 1000 + 10,485,000 bytes pass 10M (10,485,760); with the figure trusted, 30M would have fit.
    expect((await call(b, "POST", "/alice/one/data/big", new Uint8Array(10_485_000))).status).toBe(507);
  });

  it("ignores a record in the bucket whose key names no repository (a nested key made by hand), instead of measuring a folder of another repository as one", async () => {
    const replicas = await startReplicas(1, "", '[users.alice]\nquota = "1M"');
    const [a] = replicas.urls as [string];
    expect((await call(a, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(a, "POST", "/alice/one/data/first", new Uint8Array(600_000))).status).toBe(200);
    await replicas.servers[0]?.shutdown(1000);
    // "one/data" is no repository name: as one, it is the folder data/ of "one", counted twice.
    await replicas.records.put("alice/one/data.usage.json", `${JSON.stringify({ bytes: 0, objects: 0, clean: false })}\n`, undefined);
    const again = await startReplicas(1, "", '[users.alice]\nquota = "1M"', replicas.prefix);
    const [b] = again.urls as [string];
    expect((await call(b, "POST", "/alice/one/data/second", new Uint8Array(100_000))).status).toBe(200);
    const report = JSON.parse((await call(b, "GET", "/_usage")).text) as { bytes: number; repositories: Array<{ name: string }> };
    expect(report.repositories.map((repo) => repo.name)).toEqual(["one"]);
    expect(report.bytes).toBe(700_000);
  });

  // Before DiscoveredRepositories: the records were the only list of a user's repositories, and
  // deleting them lifted the user's quota by what those held.
  it("counts a user's repositories whose records were deleted from the bucket against the user's quota", async () => {
    const replicas = await startReplicas(1, "", '[users.alice]\nquota = "1M"');
    const [a] = replicas.urls as [string];
    expect((await call(a, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(a, "POST", "/alice/one/data/first", new Uint8Array(900_000))).status).toBe(200);
    await replicas.servers[0]?.shutdown(1000);
    await replicas.records.delete("alice/one.usage.json");
    const again = await startReplicas(1, "", '[users.alice]\nquota = "1M"', replicas.prefix);
    const [b] = again.urls as [string];
    expect((await call(b, "POST", "/alice/two/?cmd=create")).status).toBe(200);
    expect((await call(b, "POST", "/alice/two/data/second", new Uint8Array(900_000))).status).toBe(507);
  });

  // Before the record heartbeat (bucket-usage-records.ts): A wrote the record "not clean" once, at
  // open, and B, which measured after one request, wrote it clean with its figures at its restart
  // while A kept storing; after A's kill -9 the successor trusted 1,000 of 63,000 bytes.
  it("never leaves a record clean while its owner changes the repository after another replica served the user for a moment", async () => {
    const replicas = await startReplicas(2);
    await servedByAnotherForAMoment(replicas);
    expect(await quotaUsage(replicas.urls[0] as string, "/alice/one")).toBe(63_000);
    // A dies here (kill -9): what its successor finds in the bucket.
    const record = JSON.parse((await replicas.records.get("alice/one.usage.json"))?.text ?? "{}") as { clean: boolean; bytes: number };
    expect(record.clean === false || record.bytes === 63_000).toBe(true);
    const successor = await startReplicas(1, "", "", replicas.prefix);
    expect(await quotaUsage(successor.urls[0] as string, "/alice/one")).toBe(63_000);
  });

  it("refuses a delete grace with state_url: kept values are on one replica's disk, and another taking over counted none of them", async () => {
    // Before: replica A kept a deleted value of 20,000 bytes and counted it (usage 20,000); replica
    // B, serving the user after a failover, measured 0 (its own state_dir keeps nothing) and could
    // neither restore the value nor hold the quota against it.
    for (const [repositories, tables] of [
      ['delete_grace = "1d"', ""],
      ["", '[users.alice]\ndelete_grace = "7d"'],
      ["", '[repos."alice/one"]\ndelete_grace = "1h"'],
    ] as const)
      await expect(startReplicas(1, repositories, tables)).rejects.toThrow(/delete_grace: not with state_url/);
    // Turned off explicitly, it is no problem.
    await startReplicas(1, 'delete_grace = "off"');
  });
});

describe("state_url beside a bucket per user (breaker BC)", () => {
  const config = (stateUrl: string, backend: string) =>
    `htpasswd = "h"\nstate_url = "${stateUrl}"\n[listen]\nport = 0\n[repositories]\nbackend = "${backend}"\n`;

  it("accepts records in a bucket no user's bucket can be named as, and refuses one a user's can", () => {
    // Buckets "bs-<user>": "borgstore-state" is none of them; "bs-state" is the bucket of a user named "state".
    expect(parseHostingConfig(config("s3:K:S@http://rgw/borgstore-state/records", "s3:K:S@http://rgw/bs-{user}/{repo}"), "/tmp").stateUrl).toBe(
      "s3:K:S@http://rgw/borgstore-state/records",
    );
    expect(() => parseHostingConfig(config("s3:K:S@http://rgw/bs-state/records", "s3:K:S@http://rgw/bs-{user}/{repo}"), "/tmp")).toThrow(/state_url: it is inside/);
    expect(() => parseHostingConfig(config("s3:K:S@http://rgw/b/repos/state", "s3:K:S@http://rgw/b/repos/{user}/{repo}"), "/tmp")).toThrow(/state_url: it is inside/);
  });
});
