import { setTimeout as sleep } from "node:timers/promises";
import { requireTestServer } from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { call, quotaUsage, replicasClosedAfterEach, servedByAnotherForAMoment } from "./scaleout-replicas-bc.js";

const s3Url = requireTestServer("BORGSTORE_TEST_S3_URL", "hosting record heartbeat (radosgw)");

/** The replicas here write records held open every 300 ms and wait 1000 ms before a contested clean write (scaleout-replicas-bc.ts). */
describe.skipIf(!s3Url)("usage record heartbeat across replicas over radosgw", () => {
  const startReplicas = replicasClosedAfterEach(s3Url);

  it("fails the clean write of a replica that served the user for a moment and closes later, because the busy owner wrote the record meanwhile", async () => {
    const replicas = await startReplicas(2);
    // B serves one request, measures (1000), and keeps the repository open well past its wait.
    await servedByAnotherForAMoment(replicas, 1600);
    // A dies here (kill -9): B's figures (1000) must not be in a clean record.
    const record = JSON.parse((await replicas.records.get("alice/one.usage.json"))?.text ?? "{}") as { clean: boolean };
    expect(record.clean).toBe(false);
    const successor = await startReplicas(1, "", "", replicas.prefix);
    expect(await quotaUsage(successor.urls[0] as string, "/alice/one")).toBe(63_000);
  });

  it("writes a clean record at once at shutdown for a repository created here, and nothing after shutdown", async () => {
    const replicas = await startReplicas(1);
    const [a] = replicas.urls as [string];
    expect((await call(a, "POST", "/alice/one/?cmd=create")).status).toBe(200);
    expect((await call(a, "POST", "/alice/one/data/first", new Uint8Array(1000))).status).toBe(200);
    await sleep(700);
    // While open: the heartbeat carries the figures now (read by /_usage on other replicas).
    expect(JSON.parse((await replicas.records.get("alice/one.usage.json"))?.text ?? "{}")).toMatchObject({ bytes: 1000, clean: false });
    // No other replica can have had it open: clean, with no wait for another's heartbeat.
    await replicas.servers[0]?.shutdown(1000);
    const closed = await replicas.records.get("alice/one.usage.json");
    expect(JSON.parse(closed?.text ?? "{}")).toMatchObject({ bytes: 1000, clean: true });
    await sleep(800);
    expect((await replicas.records.get("alice/one.usage.json"))?.etag).toBe(closed?.etag);
  });
});
