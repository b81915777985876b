import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadHostingConfig } from "../src/hosting/config.js";
import { hostingUsageSource } from "../src/hosting/observability.js";
import { Repositories } from "../src/hosting/repositories.js";
import { UsageRecords } from "../src/hosting/usage-records.js";
import { OVERFLOW_LABEL } from "../src/observability/metrics.js";
import { writeHostingConfig } from "./hosting-helpers.js";

// hostingUsageSource on its own (real configuration, usage records in a state folder, Repositories
// with no user loaded): the metrics' per-repository figures read from the records, and the bound on
// their series.

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

async function setUp(): Promise<{ repositories: Repositories; stateDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "hosting-usage-source-"));
  folders.push(dir);
  const config = await loadHostingConfig(writeHostingConfig(dir, `file://${dir}/repos/{user}/{repo}`));
  return { repositories: new Repositories(() => config, new UsageRecords(config.stateDir), { idleMs: 60_000 }), stateDir: config.stateDir };
}

describe("hosting usage for the metrics", () => {
  it("reads every user's records from the state folder, each repository a series of its own within the bound", async () => {
    const { repositories, stateDir } = await setUp();
    const records = new UsageRecords(stateDir);
    await records.write("alice", "laptop", { bytes: 10, objects: 1, clean: true, lastWrite: 5000 });
    await records.write("alice", "phone", { bytes: 20, objects: 2, clean: true });
    await records.write("bob", "nas", { bytes: 30, objects: 3, clean: true, lastWrite: 7000 });
    const samples = await hostingUsageSource(repositories, records, 3)();
    expect(samples).toEqual([
      { user: "alice", repo: "alice/laptop", bytes: 10, objects: 1, lastWrite: 5 },
      { user: "alice", repo: "alice/phone", bytes: 20, objects: 2 },
      { user: "bob", repo: "bob/nas", bytes: 30, objects: 3, lastWrite: 7 },
    ]);
    // One pair fewer than repositories: the last two are summed under the overflow label.
    expect(await hostingUsageSource(repositories, records, 2)()).toEqual([
      { user: "alice", repo: "alice/laptop", bytes: 10, objects: 1, lastWrite: 5 },
      { user: OVERFLOW_LABEL, repo: OVERFLOW_LABEL, bytes: 50, objects: 5, lastWrite: 7 },
    ]);
  });

  it("has nothing to report before the state folder exists", async () => {
    const { repositories, stateDir } = await setUp();
    expect(await hostingUsageSource(repositories, new UsageRecords(join(stateDir, "not-yet")), 10)()).toEqual([]);
  });

  it("reads no records that have no folder (a bucket's: other replicas write them)", async () => {
    const { repositories } = await setUp();
    let asked = 0;
    const inBucket = {
      async readUser() {
        asked++;
        return new Map([["laptop", { bytes: 1, objects: 1 }]]);
      },
    };
    expect(await hostingUsageSource(repositories, inBucket, 10)()).toEqual([]);
    expect(asked).toBe(0);
  });
});
