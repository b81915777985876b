import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { QuotaInfo, Store } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { type ReferencePeer, requireReferencePeer, runReferencePython } from "./reference-peer.js";

/**
 * The cross-implementation matrix (issue 12 §4): one store, written by one implementation and read
 * by the other. The Python side is python/cross_implementation_cell.py run with the reference; this
 * module is the TypeScript side, and both print/return the same JSON documents, so one
 * `toEqual` compares what was written with what the other side observed.
 */

/** One cell: where the store lives for the reference, and what goes into it. */
export interface CellPlan {
  /** The reference's URL of the store (file://, sftp://, s3:, rclone:, http://, rest://). */
  url: string;
  /** Identical on both sides: one flat namespace and one nested two levels deep. */
  config: Record<
    string,
    {
      /** Nesting levels of the namespace. */
      levels: number[];
    }
  >;
  /** posixfs only: both sides open the store with this quota (the reference keeps quota.hid). */
  quota?: number;
  /** name → size in bytes. */
  objects: Record<string, number>;
  /** Names soft-deleted after all objects are stored. */
  softDelete: string[];
}

/** Size and SHA-256 of one value. */
export interface Digest {
  /** Size in bytes. */
  size: number;
  /** Lowercase hex SHA-256. */
  sha256: string;
}

/** What the writer stored: live and soft-deleted items, and its quota before closing. */
export interface CellManifest {
  /** name → digest of each live item. */
  live: Record<string, Digest>;
  /** name → digest of each soft-deleted item (name without ".del"). */
  deleted: Record<string, Digest>;
  /** The writer's quota() before closing, null without a quota. */
  quota: QuotaInfo | null;
}

/** What a reader sees of the whole store at one moment. */
export interface CellObservation {
  /** name → size, as list() reports it. */
  listed: Record<string, number>;
  /** name → size of each soft-deleted item, as list() reports it. */
  listedDeleted: Record<string, number>;
  /** name → digest of each live item's loaded value. */
  loaded: Record<string, Digest>;
  /** name → the store's hash() (server-side where the backend has one). */
  hashed: Record<string, string>;
  /** name → digest of each soft-deleted item's loaded value. */
  loadedDeleted: Record<string, Digest>;
  /** name → the store's hash() of each soft-deleted item. */
  hashedDeleted: Record<string, string>;
}

/** What the reader observed before and after undeleting every soft-deleted item. */
export interface CellReading {
  /** The reader's quota() right after opening, null without a quota. */
  quotaOnOpen: QuotaInfo | null;
  /** The store as first read. */
  before: CellObservation;
  /** The store after undeleting every soft-deleted item. */
  afterUndelete: CellObservation;
  /** The reader's quota() after the undeletes. */
  quotaAfterUndelete: QuotaInfo | null;
}

const KiB = 1024;
const MiB = 1024 * KiB;
// 64 hex digits, as borg's keys: the first two bytes pick the nesting directories (levels [2]).
const hexKey = (prefix: string, fill: string) => prefix + fill.repeat(64 - prefix.length);

/** The objects of every cell: 0 B, 1 KiB and 5 MiB flat, a few more in the nested namespace; one of each soft-deleted. */
export function cellPlan(url: string, quota?: number): CellPlan {
  // Soft-deleted beside a live item in the same nesting directory (data/ab/cd/).
  const nestedShared = hexKey("abcd", "1");
  return {
    url,
    config: { "config/": { levels: [0] }, "data/": { levels: [2] } },
    ...(quota === undefined ? {} : { quota }),
    objects: {
      "config/empty": 0,
      "config/small": KiB,
      "config/large": 5 * MiB,
      [`data/${hexKey("00", "0")}`]: 0,
      [`data/${nestedShared}`]: KiB,
      [`data/${hexKey("abcd", "2")}`]: 3 * KiB + 7,
      [`data/${hexKey("ff", "f")}`]: 64 * KiB,
    },
    softDelete: ["config/small", `data/${nestedShared}`],
  };
}

/** The reading a faithful reader must report of a store written as `manifest` says. */
export function expectedReading(manifest: CellManifest): CellReading {
  const sizes = (items: Record<string, Digest>) => Object.fromEntries(Object.entries(items).map(([n, d]) => [n, d.size]));
  const hashes = (items: Record<string, Digest>) => Object.fromEntries(Object.entries(items).map(([n, d]) => [n, d.sha256]));
  const all = { ...manifest.live, ...manifest.deleted };
  return {
    quotaOnOpen: manifest.quota,
    before: {
      listed: sizes(manifest.live),
      listedDeleted: sizes(manifest.deleted),
      loaded: manifest.live,
      hashed: hashes(manifest.live),
      loadedDeleted: manifest.deleted,
      hashedDeleted: hashes(manifest.deleted),
    },
    afterUndelete: { listed: sizes(all), listedDeleted: {}, loaded: all, hashed: hashes(all), loadedDeleted: {}, hashedDeleted: {} },
    quotaAfterUndelete: manifest.quota,
  };
}

const digest = (value: Uint8Array): Digest => ({ size: value.byteLength, sha256: createHash("sha256").update(value).digest("hex") });
const namespacesOf = (plan: CellPlan) => Object.keys(plan.config).map((ns) => ns.replace(/\/+$/, "")).sort();

/** Our side of "write": creates the store, stores the objects, soft-deletes, reports the manifest. */
export async function writeCell(store: Store, plan: CellPlan): Promise<CellManifest> {
  await store.create();
  await store.open();
  try {
    const live: Record<string, Digest> = {};
    const deleted: Record<string, Digest> = {};
    for (const [name, size] of Object.entries(plan.objects)) {
      const value = randomBytes(size);
      await store.store(name, value);
      live[name] = digest(value);
    }
    for (const name of plan.softDelete) {
      await store.move(name, { delete: true });
      deleted[name] = live[name] as Digest;
      delete live[name];
    }
    return { live, deleted, quota: plan.quota === undefined ? null : await store.quota() };
  } finally {
    await store.close();
  }
}

async function listing(store: Store, plan: CellPlan, deleted: boolean): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  for (const ns of namespacesOf(plan)) for await (const item of store.list(ns, { deleted })) found[`${ns}/${item.name}`] = item.size;
  return found;
}

async function observe(store: Store, plan: CellPlan): Promise<CellObservation> {
  const observation: CellObservation = {
    listed: await listing(store, plan, false),
    listedDeleted: await listing(store, plan, true),
    loaded: {},
    hashed: {},
    loadedDeleted: {},
    hashedDeleted: {},
  };
  for (const name of Object.keys(observation.listed)) {
    observation.loaded[name] = digest(await store.load(name));
    observation.hashed[name] = await store.hash(name);
  }
  for (const name of Object.keys(observation.listedDeleted)) {
    observation.loadedDeleted[name] = digest(await store.load(name, { deleted: true }));
    observation.hashedDeleted[name] = await store.hash(name, { deleted: true });
  }
  return observation;
}

/** What the writer sees when it opens the store again after the reader's undeletes. */
export interface CellRecheck {
  /** The writer's quota() on reopening. */
  quota: QuotaInfo | null;
  /** The store as the writer reads it on reopening. */
  observation: CellObservation;
}

/** The recheck a faithful writer must report once the reader has undeleted everything. */
export function expectedRecheck(manifest: CellManifest): CellRecheck {
  return { quota: manifest.quota, observation: expectedReading(manifest).afterUndelete };
}

/** Our side of "recheck": opens the store again and observes it without changing anything. */
export async function recheckCell(store: Store, plan: CellPlan): Promise<CellRecheck> {
  await store.open();
  try {
    return { quota: plan.quota === undefined ? null : await store.quota(), observation: await observe(store, plan) };
  } finally {
    await store.close();
  }
}

/** Our side of "read": observes the store, undeletes every soft-deleted item, observes again. */
export async function readCell(store: Store, plan: CellPlan): Promise<CellReading> {
  await store.open();
  try {
    const quotaOnOpen = plan.quota === undefined ? null : await store.quota();
    const before = await observe(store, plan);
    for (const name of Object.keys(before.listedDeleted)) await store.move(name, { undelete: true });
    const afterUndelete = await observe(store, plan);
    return { quotaOnOpen, before, afterUndelete, quotaAfterUndelete: plan.quota === undefined ? null : await store.quota() };
  } finally {
    await store.close();
  }
}

const CELL_SCRIPT = fileURLToPath(new URL("../python/cross_implementation_cell.py", import.meta.url));

/** The reference's side of a cell: python/cross_implementation_cell.py `write`, `read` or `recheck`. */
export async function runReferenceCell(
  peer: ReferencePeer,
  operation: "write",
  plan: CellPlan,
  env?: NodeJS.ProcessEnv,
): Promise<CellManifest>;
export async function runReferenceCell(
  peer: ReferencePeer,
  operation: "read",
  plan: CellPlan,
  env?: NodeJS.ProcessEnv,
): Promise<CellReading>;
export async function runReferenceCell(
  peer: ReferencePeer,
  operation: "recheck",
  plan: CellPlan,
  env?: NodeJS.ProcessEnv,
): Promise<CellRecheck>;
export async function runReferenceCell(
  peer: ReferencePeer,
  operation: "write" | "read" | "recheck",
  plan: CellPlan,
  env: NodeJS.ProcessEnv = {},
): Promise<CellManifest | CellReading | CellRecheck> {
  const code = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')";
  const result = await runReferencePython(peer, code, { args: [CELL_SCRIPT, operation], input: JSON.stringify(plan), env });
  if (result.status !== 0)
    throw new Error(`the reference's ${operation} of ${plan.url} failed (exit ${result.status}):\n${result.stderr}`);
  return JSON.parse(result.stdout.toString("utf8"));
}

/** One fresh, empty store location, as each implementation addresses it. */
export interface CellLocation {
  /** The reference's URL of the location. */
  referenceUrl: string;
  /** Our Store on the same location, configured as the plan says. */
  ourStore(plan: CellPlan): Store;
  /** Environment for the reference's process (e.g. HOME with an ssh setup, PATH with a server). */
  referenceEnv?: NodeJS.ProcessEnv;
  /** Extra checks once both sides are done (e.g. quota.hid on disk). */
  inspect?(manifest: CellManifest): Promise<void>;
  /** Removes what the cell left behind. */
  cleanup?(): Promise<void>;
}

/** Options of one row of the cross-implementation matrix. */
export interface CrossImplementationOptions {
  /** The row of the matrix, e.g. "sftp through OpenSSH". */
  name: string;
  /** Python modules the reference needs for this backend (e.g. ["paramiko"]). */
  modules?: string[];
  /** Skip with this reason (a missing test server: requireTestServer already said so loudly); a failure under CI=true. */
  skip?: string | false;
  /** A fresh, empty store location for each test. */
  location(): Promise<CellLocation> | CellLocation;
  /** Both sides open the store with this quota (posixfs). */
  quota?: number;
  /** Per test; default 60 s. */
  timeoutMs?: number;
}

/**
 * Registers the two cells of one row: the reference writes and we read, and we write and the
 * reference reads, each through its own backend for the same store.
 */
export function describeCrossImplementation(options: CrossImplementationOptions): void {
  const title = `${options.name}: one store, both implementations`;
  if (options.skip) {
    if (process.env.CI === "true") throw new Error(`${title}: ${options.skip} — failing because CI=true`);
    process.stderr.write(`\n*** SKIPPING ${title}: ${options.skip}\n\n`);
  }
  const peer = options.skip ? undefined : requireReferencePeer(title, options.modules ?? []);
  if (!peer) {
    describe.skip(title, () => it(options.skip || "needs the Python reference", () => {}));
    return;
  }
  const timeout = options.timeoutMs ?? 60_000;
  const cell = async (work: (location: CellLocation, plan: CellPlan) => Promise<void>) => {
    const location = await options.location();
    try {
      await work(location, cellPlan(location.referenceUrl, options.quota));
    } finally {
      await location.cleanup?.();
    }
  };
  describe(title, () => {
    it(
      "the reference writes 0 B, 1 KiB, 5 MiB and nested objects and soft-deletes two; we list, load, hash and undelete them byte for byte, and the reference sees them undeleted",
      () =>
        cell(async (location, plan) => {
          const manifest = await runReferenceCell(peer, "write", plan, location.referenceEnv);
          const reading = await readCell(location.ourStore(plan), plan);
          expect(reading).toEqual(expectedReading(manifest));
          expect(await runReferenceCell(peer, "recheck", plan, location.referenceEnv)).toEqual(expectedRecheck(manifest));
          await location.inspect?.(manifest);
        }),
      timeout,
    );
    it(
      "we write 0 B, 1 KiB, 5 MiB and nested objects and soft-delete two; the reference lists, loads, hashes and undeletes them byte for byte, and we see them undeleted",
      () =>
        cell(async (location, plan) => {
          const manifest = await writeCell(location.ourStore(plan), plan);
          const reading = await runReferenceCell(peer, "read", plan, location.referenceEnv);
          expect(reading).toEqual(expectedReading(manifest));
          expect(await recheckCell(location.ourStore(plan), plan)).toEqual(expectedRecheck(manifest));
          await location.inspect?.(manifest);
        }),
      timeout,
    );
  });
}
