// Random interleavings of stores, deletes and moves with close(): each change either reaches
// quota.hid or is refused (not made), so after close quota.hid holds exactly the bytes on disk.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { BackendMustBeOpen, ObjectNotFound } from "@borgstore/core";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newBackend } from "./helpers.js";

const KEYS = ["data/k0", "data/k1", "data/k2", "data/k3", "data/k4", "data/k5"];
// Around the 64 KiB limit of synchronous small writes, so both write paths take part.
const SIZES = [0, 1_000, 60_000, 70_000, 300_000];

type Op = { kind: "store"; key: string; size: number } | { kind: "delete"; key: string } | { kind: "move"; from: string; to: string };

const key = fc.constantFrom(...KEYS);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("store" as const), key, size: fc.constantFrom(...SIZES) }),
  fc.record({ kind: fc.constant("delete" as const), key }),
  fc.record({ kind: fc.constant("move" as const), from: key, to: key }),
);

function run(backend: PosixFsBackend, change: Op): Promise<void> {
  if (change.kind === "store") return backend.store(change.key, new Uint8Array(change.size));
  if (change.kind === "delete") return backend.delete(change.key);
  return backend.move(change.from, change.to);
}

/** Bytes of the value files below `data/`, what quota.hid should count. */
function valueBytes(base: string): number {
  return readdirSync(join(base, "data"))
    .filter((name) => !name.includes("."))
    .reduce((sum, name) => sum + statSync(join(base, "data", name)).size, 0);
}

describe("posixfs quota: changes on their way when close() runs", () => {
  for (const syncWrites of [true, false])
    it(`quota.hid counts exactly the bytes on disk after close and reopen (syncWrites ${syncWrites})`, { timeout: 120_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom(...SIZES), { minLength: KEYS.length, maxLength: KEYS.length }),
          fc.array(op, { minLength: 1, maxLength: 24 }),
          fc.nat({ max: 8 }),
          async (initial, changes, turns) => {
            const created = newBackend();
            await created.create();
            const backend = new PosixFsBackend({ path: created.base, quota: 1e9, syncWrites });
            await backend.open();
            await backend.mkdir("data");
            for (const [i, size] of initial.entries()) await backend.store(KEYS[i] as string, new Uint8Array(size));
            const outcomes = changes.map((change) => run(backend, change).then(() => "done", (err: Error) => err));
            for (let t = 0; t < turns; t++) await nextTurn();
            await backend.close();
            for (const outcome of await Promise.all(outcomes))
              if (outcome !== "done") expect([BackendMustBeOpen, ObjectNotFound].some((type) => outcome instanceof type), String(outcome)).toBe(true);
            const onDisk = valueBytes(backend.base);
            expect(Number(readFileSync(join(backend.base, "quota.hid"), "latin1"))).toBe(onDisk);
            expect(readdirSync(backend.base).filter((name) => name.startsWith("quota-session-"))).toEqual([]);
            await backend.open();
            expect((await backend.quota()).usage).toBe(onDisk);
            await backend.close();
          },
        ),
        { numRuns: 60 },
      );
    });
});
