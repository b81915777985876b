import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { Store } from "@borgstore/core";
import {
  type CellManifest,
  type CellPlan,
  cellPlan,
  describeCrossImplementation,
  expectedReading,
  expectedRecheck,
  readCell,
  recheckCell,
  requireReferencePeer,
  runReferenceCell,
  writeCell,
} from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";

const QUOTA = 100 * 1024 * 1024;

// Both sides keep quota.hid: each must open the other's file and agree on the usage it holds.
describeCrossImplementation({
  name: "posixfs with a quota",
  quota: QUOTA,
  location: () => {
    const path = join(tempDir(), "store");
    return {
      referenceUrl: `file://${path}`,
      ourStore: (plan) => new Store({ backend: new PosixFsBackend({ path, quota: plan.quota }), config: plan.config }),
      async inspect(manifest) {
        expect(await readFile(join(path, "quota.hid"), "latin1")).toBe(String(manifest.quota?.usage));
      },
    };
  },
});

describeCrossImplementation({
  name: "posixfs without a quota",
  location: () => {
    const path = join(tempDir(), "store");
    return {
      referenceUrl: `file://${path}`,
      ourStore: (plan) => new Store({ backend: new PosixFsBackend({ path }), config: plan.config }),
    };
  },
});

// A store whose quota is switched off by one implementation and on again by the other
// (docs/on-disk-format.md#bookkeeping-files): opening without a quota deletes quota.hid, and the next open with one rescans the tree.
const peer = requireReferencePeer("posixfs: quota.hid across implementations", []);
const ourStoreOn = (path: string, plan: CellPlan) => new Store({ backend: new PosixFsBackend({ path, quota: plan.quota }), config: plan.config });
const withoutQuota = (plan: CellPlan): CellPlan => ({ ...plan, quota: undefined });
const totalBytes = (manifest: CellManifest) =>
  Object.values({ ...manifest.live, ...manifest.deleted }).reduce((sum, item) => sum + item.size, 0);

describe.skipIf(!peer)("posixfs: quota.hid when one implementation opens the store without a quota", () => {
  const ref = peer as NonNullable<typeof peer>;

  it("the reference writes with a quota, we open without one and delete quota.hid, the reference rescans the same usage", async () => {
    const path = join(tempDir(), "store");
    const plan = cellPlan(`file://${path}`, QUOTA);
    const manifest = await runReferenceCell(ref, "write", plan);
    expect(manifest.quota).toEqual({ limit: QUOTA, usage: totalBytes(manifest) });
    expect(await readCell(ourStoreOn(path, withoutQuota(plan)), withoutQuota(plan))).toEqual(
      expectedReading({ ...manifest, quota: null }),
    );
    expect(existsSync(join(path, "quota.hid"))).toBe(false);
    expect((await runReferenceCell(ref, "recheck", plan)).quota).toEqual(manifest.quota);
    expect(await readFile(join(path, "quota.hid"), "latin1")).toBe(String(totalBytes(manifest)));
  }, 60_000);

  it("we write with a quota, the reference opens without one and deletes quota.hid, we rescan the same usage", async () => {
    const path = join(tempDir(), "store");
    const plan = cellPlan(`file://${path}`, QUOTA);
    const manifest = await writeCell(ourStoreOn(path, plan), plan);
    expect(manifest.quota).toEqual({ limit: QUOTA, usage: totalBytes(manifest) });
    expect(await runReferenceCell(ref, "read", withoutQuota(plan))).toEqual(expectedReading({ ...manifest, quota: null }));
    expect(existsSync(join(path, "quota.hid"))).toBe(false);
    expect((await recheckCell(ourStoreOn(path, plan), plan)).quota).toEqual(manifest.quota);
    expect(await readFile(join(path, "quota.hid"), "latin1")).toBe(String(totalBytes(manifest)));
  }, 60_000);
});

// A store changing its nesting (the reference's find tries every configured level): one side wrote
// `data/` at level 1, the other reads it configured with levels [1, 2] and must find every item there.
const atLevels = (plan: CellPlan, levels: number[]): CellPlan => ({ ...plan, config: { ...plan.config, "data/": { levels } } });

describe.skipIf(!peer)("posixfs: a namespace read with more nesting levels than it was written with", () => {
  const ref = peer as NonNullable<typeof peer>;

  it("the reference writes data/ at level 1; we read it with levels [1, 2], undelete, and the reference sees the result", async () => {
    const path = join(tempDir(), "store");
    const plan = cellPlan(`file://${path}`);
    const manifest = await runReferenceCell(ref, "write", atLevels(plan, [1]));
    expect(await readCell(ourStoreOn(path, atLevels(plan, [1, 2])), atLevels(plan, [1, 2]))).toEqual(expectedReading(manifest));
    expect(await runReferenceCell(ref, "recheck", atLevels(plan, [1]))).toEqual(expectedRecheck(manifest));
  }, 60_000);

  it("we write data/ at level 1; the reference reads it with levels [1, 2], undeletes, and we see the result", async () => {
    const path = join(tempDir(), "store");
    const plan = cellPlan(`file://${path}`);
    const manifest = await writeCell(ourStoreOn(path, atLevels(plan, [1])), atLevels(plan, [1]));
    expect(await runReferenceCell(ref, "read", atLevels(plan, [1, 2]))).toEqual(expectedReading(manifest));
    expect(await recheckCell(ourStoreOn(path, atLevels(plan, [1])), atLevels(plan, [1]))).toEqual(expectedRecheck(manifest));
  }, 60_000);
});
