import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type ReferencePeer, type ReferenceServer, requireReferencePeer, runReferencePython, startReferenceServer } from "@borgstore/testkit";
import { isValidName } from "@borgstore/core";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer, tempDir } from "./helpers.js";

/**
 * Issue 11's differential suite: the same random operation sequences, run by the unmodified
 * Python client (Store over its REST backend), once against our server and once against the
 * unmodified Python server, each on a fresh posixfs store; every result must be the same.
 * Where the reference is known to be wrong, the difference is named below and accepted on
 * purpose, never skipped. The seed of a run is in every failure message; rerun it with
 * BORGSTORE_DIFF_SEED=<seed>.
 */

const DRIVER = readFileSync(fileURLToPath(new URL("./python/differential_driver.py", import.meta.url)), "utf8");
const SEQUENCES = Number(process.env.BORGSTORE_DIFF_SEQUENCES ?? 24);
const SEED = Number(process.env.BORGSTORE_DIFF_SEED ?? Math.floor(Math.random() * 2 ** 31));
const QUOTA = 400_000;
const USER = "diffuser";
const PASSWORD = "diffpass";
/** Store namespaces: "ns/" unnested, "data/" nested one level (as borg's data/ is nested). */
const CONFIG = { "ns/": { levels: [0] }, "data/": { levels: [1] } };

type Op =
  | { op: "store"; name: string; size: number; seed: number }
  | { op: "load"; name: string; offset: number; size: number | null; deleted: boolean }
  | { op: "info" | "delete"; name: string; deleted: boolean }
  | { op: "list"; name: string; deleted: boolean }
  | { op: "move"; name: string; new_name: string; deleted: boolean }
  | { op: "softdelete" | "undelete"; name: string }
  | { op: "mkdir" | "rmdir"; name: string }
  | { op: "hash"; name: string; algorithm: string; deleted: boolean }
  | { op: "defrag"; namespace: string; sources: [string, number, number][]; target: string | null; algorithm: string | null }
  | { op: "quota" | "create" | "destroy" };

type Result = { ok: unknown } | { err: string };

// ---------------------------------------------------------------------------------------------
// Sequences.

const NS_KEYS = ["a", "b", "c"];
/** Valid names whose characters mean something in a URL: the client sends them as they are. */
const ODD_KEYS = ["x y", "a+b", "c~d", "e%41"];
const DATA_KEYS = ["00aa11", "00bb22", "ff0011"];
const nameArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NS_KEYS.map((k) => `ns/${k}`)) },
  { weight: 4, arbitrary: fc.constantFrom(...DATA_KEYS.map((k) => `data/${k}`)) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_KEYS.map((k) => `ns/${k}`)) },
);
const deletedArb = fc.constantFrom(false, false, false, true);
const algorithmArb = fc.constantFrom("sha256", "sha256", "md5", "sha1", "sha512", "blake2b", "sha3_256", "xxh64", "blake3", "bogus", "shake_128", "SHA256");

const storeArb = fc.record({
  op: fc.constant("store" as const),
  name: nameArb,
  size: fc.constantFrom(0, 0, 1, 10, 100, 1000, 5000, 70_000, 150_000),
  seed: fc.nat({ max: 1000 }),
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: storeArb },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("load" as const),
      name: nameArb,
      offset: fc.constantFrom(0, 0, 0, 1, 5, 999, 200_000, -1, -5, -100, -2000, -100_000),
      size: fc.constantFrom(null, null, 0, 1, 10, 3000, 100_000),
      deleted: deletedArb,
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom("info" as const, "delete" as const), name: nameArb, deleted: deletedArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("list" as const), name: fc.constantFrom("ns", "data", "ns/a"), deleted: deletedArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("move" as const), name: nameArb, new_name: nameArb, deleted: deletedArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom("softdelete" as const, "undelete" as const), name: nameArb }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constantFrom("mkdir" as const, "rmdir" as const), name: fc.constantFrom("ns", "ns/sub", "data", "data/00", "ns/a", "other") }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("hash" as const), name: nameArb, algorithm: algorithmArb, deleted: deletedArb }) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.record({
        op: fc.constant("defrag" as const),
        namespace: fc.constant("ns"),
        sources: fc.array(fc.tuple(fc.constantFrom(...NS_KEYS, ...ODD_KEYS), fc.constantFrom(0, 1, 5, 100), fc.constantFrom(0, 1, 4, 50)), { maxLength: 3 }),
        target: fc.constantFrom(null, "a", "t"),
        algorithm: fc.constantFrom(null, "sha256", "md5", "xxh64", "bogus"),
      }),
      fc.record({
        op: fc.constant("defrag" as const),
        namespace: fc.constant("data"),
        sources: fc.array(fc.tuple(fc.constantFrom(...DATA_KEYS), fc.constantFrom(0, 1, 5), fc.constantFrom(0, 1, 4)), { maxLength: 3 }),
        target: fc.constantFrom(null, "00cc33"),
        algorithm: fc.constantFrom(null, "sha256", "blake3"),
      }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom("quota" as const, "quota" as const, "create" as const, "destroy" as const) }) },
);

/**
 * A defrag named by an xxh64/blake3 digest is left out: the reference refuses it (its missing
 * algorithms are named above, and hash exercises them), and the object only we create would make
 * every later list differ.
 */
function referenceCanDefrag(op: Op): boolean {
  return !(op.op === "defrag" && op.target === null && ["xxh64", "blake3"].includes(op.algorithm ?? ""));
}

/**
 * A few stores, then random operations; three in four operations on a name use one stored (or
 * soft-deleted) before, so that loads, moves, deletes and undeletes mostly find something.
 */
const sequenceArb = fc
  .tuple(
    fc.array(storeArb, { minLength: 2, maxLength: 4 }),
    fc.array(fc.tuple(opArb.filter(referenceCanDefrag), fc.nat()), { minLength: 5, maxLength: 30 }),
  )
  .map(([stores, rest]): Op[] => {
    const stored: string[] = stores.map((op) => op.name);
    const ops: Op[] = [...stores];
    const softDeleted: string[] = [];
    for (const [op, pick] of rest) {
      // Operations on deleted items mostly name one soft-deleted before.
      const onDeleted = op.op === "undelete" || ("deleted" in op && op.deleted);
      const pool = onDeleted && softDeleted.length > 0 ? softDeleted : stored;
      const reuse = op.op !== "store" && "name" in op && op.name.includes("/") && pick % 4 !== 0;
      const chosen = reuse ? { ...op, name: pool[pick % pool.length] as string } : op;
      ops.push(chosen);
      if (chosen.op === "store") stored.push(chosen.name);
      if (chosen.op === "softdelete") softDeleted.push(chosen.name);
    }
    return ops;
  });

// ---------------------------------------------------------------------------------------------
// Known reference bugs: where the reference answers differently and is wrong, by name.

interface KnownDifference {
  name: string;
  /** `before`: the sequence's earlier operations with our results. */
  matches(op: Op, ours: Result, reference: Result, before: readonly { op: Op; ours: Result }[]): boolean;
}

/** An earlier move in the sequence that succeeded onto a name holding an object at the time. */
function movedOverAnObject(before: readonly { op: Op; ours: Result }[]): boolean {
  const present = new Set<string>();
  for (const { op, ours } of before) {
    if (!("ok" in ours)) continue;
    if (op.op === "destroy" || op.op === "create") present.clear();
    else if (op.op === "store") present.add(op.name);
    else if (op.op === "delete" && !op.deleted) present.delete(op.name);
    else if (op.op === "softdelete") present.delete(op.name);
    else if (op.op === "move" && !op.deleted) {
      if (present.has(op.new_name)) return true;
      present.delete(op.name);
      present.add(op.new_name);
    }
  }
  return false;
}

const isErr = (r: Result, err: string) => "err" in r && r.err === err;
const isOk = (r: Result) => "ok" in r;

export const KNOWN_REFERENCE_BUGS: readonly KnownDifference[] = [
  {
    name: "the reference server has no xxh64 (nor blake3 without the Python blake3 package): it answers 400 → ValueError before looking at the object, where we compute the digest or find the object missing",
    matches: (op, ours, reference) =>
      (op.op === "hash" || op.op === "defrag") &&
      ["xxh64", "blake3"].includes(op.algorithm ?? "") &&
      !isErr(ours, "ValueError") &&
      isErr(reference, "ValueError"),
  },
  {
    name: "a negative offset reaching before the object's start: the reference server's seek fails with EINVAL → 500 (HTTPError); we answer the whole object",
    matches: (op, ours, reference) => op.op === "load" && op.offset < 0 && isOk(ours) && isErr(reference, "HTTPError 500"),
  },
  {
    name: "a move onto an existing object: the reference keeps counting the replaced object's bytes in its quota usage for good; we subtract them, as they are gone",
    matches: (op, ours, reference, before) => {
      if (op.op !== "quota" || !("ok" in ours) || !("ok" in reference)) return false;
      const a = ours.ok as { limit: number; usage: number };
      const b = reference.ok as { limit: number; usage: number };
      return a.limit === b.limit && a.usage < b.usage && movedOverAnObject(before);
    },
  },
  {
    name: "listing a regular file: the reference server fails with NotADirectoryError → 500 (HTTPError); we answer 404 → ObjectNotFound",
    matches: (op, ours, reference) => op.op === "list" && isErr(ours, "ObjectNotFound") && isErr(reference, "HTTPError 500"),
  },
];

/**
 * Where we differ on purpose (not a reference bug, not ours to fix here): named, so that any
 * other difference still fails.
 */
export const DELIBERATE_DIFFERENCES: readonly KnownDifference[] = [
  {
    name: "core refuses an unknown or variable-length (shake_*) algorithm before any I/O; the reference loads first, so a missing object or source (ObjectNotFound), or a destroyed store (BackendDoesNotExist), wins there and shake_* fails only at digest time",
    matches: (op, ours, reference) =>
      (op.op === "hash" || (op.op === "defrag" && op.target === null)) &&
      isErr(ours, "ValueError") &&
      (isErr(reference, "ObjectNotFound") || isErr(reference, "ReadRangeError") || isErr(reference, "BackendDoesNotExist")),
  },
  {
    name: "core checks every defrag source name before loading any; the reference loads them in order, so an earlier missing or short source wins there over a later invalid name",
    matches: (op, ours, reference) =>
      op.op === "defrag" &&
      op.sources.some(([key]) => !isValidName(`ns/${key}`)) &&
      isErr(ours, "ValueError") &&
      (isErr(reference, "ObjectNotFound") || isErr(reference, "ReadRangeError")),
  },
];

function knownDifference(op: Op, ours: Result, reference: Result, before: readonly { op: Op; ours: Result }[]): string | undefined {
  return [...KNOWN_REFERENCE_BUGS, ...DELIBERATE_DIFFERENCES].find((k) => k.matches(op, ours, reference, before))?.name;
}

// ---------------------------------------------------------------------------------------------

function runDriver(peer: ReferencePeer, url: string, sequences: Op[][]): Promise<Result[][]> {
  const input = JSON.stringify({ url, config: CONFIG, sequences });
  return runReferencePython(peer, DRIVER, { input, timeoutMs: 150_000 }).then(({ status, stdout, stderr }) => {
    if (status !== 0) throw new Error(`the Python driver failed (${status}): ${stderr.slice(-3000)}`);
    return JSON.parse(stdout.toString("utf8")) as Result[][];
  });
}

const peer = requireReferencePeer("the differential test against the Python reference", ["requests"]);

describe.skipIf(!peer)("differential: the unmodified Python client gets the same results from our server as from the Python server", () => {
  let dir: ReturnType<typeof tempDir>;
  let ours: ServerProcess;
  let reference: ReferenceServer;

  beforeAll(async () => {
    dir = tempDir("borgstore-differential-");
    [ours, reference] = await Promise.all([
      startServer(["--backend", `FILE:${dir.path}/ours`, "--quota", String(QUOTA)], {
        BORGSTORE_SERVER_USERNAME: USER,
        BORGSTORE_SERVER_PASSWORD: PASSWORD,
      }),
      startReferenceServer(peer as ReferencePeer, {
        backend: `file://${dir.path}/reference`,
        username: USER,
        password: PASSWORD,
        quota: QUOTA,
      }),
    ]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([ours?.stop(), reference?.stop()]);
    dir?.remove();
  });

  it(`answers ${SEQUENCES} random sequences of store, load (ranges, negative offsets), info, list, delete, move, soft delete, mkdir/rmdir, hash, defrag, quota, create/destroy as the reference does`, async () => {
    const sequences = fc.sample(sequenceArb, { seed: SEED, numRuns: SEQUENCES });
    const [fromOurs, fromReference] = await Promise.all([
      runDriver(peer as ReferencePeer, `http://${USER}:${PASSWORD}@127.0.0.1:${ours.port}/`, sequences),
      runDriver(peer as ReferencePeer, reference.url, sequences),
    ]);
    const differences: string[] = [];
    const known = new Map<string, number>();
    sequences.forEach((ops, s) => {
      ops.forEach((op, i) => {
        const a = fromOurs[s]?.[i] as Result;
        const b = fromReference[s]?.[i] as Result;
        if (JSON.stringify(a) === JSON.stringify(b)) return;
        const name = knownDifference(op, a, b, ops.slice(0, i).map((o, j) => ({ op: o, ours: fromOurs[s]?.[j] as Result })));
        if (name) known.set(name, (known.get(name) ?? 0) + 1);
        else
          differences.push(
            `sequence ${s} op ${i}: ${JSON.stringify(op)}\n  ours:      ${JSON.stringify(a)}\n  reference: ${JSON.stringify(b)}\n  after: ${JSON.stringify(ops.slice(0, i))}`,
          );
      });
    });
    if (known.size > 0) process.stderr.write(`differential (seed ${SEED}): known reference bugs seen: ${JSON.stringify([...known])}\n`);
    expect(differences, `seed ${SEED} (BORGSTORE_DIFF_SEED=${SEED} reproduces)`).toEqual([]);
  }, 120_000);

  // The Python client never sends these; other clients and proxies may.
  const ODD_RANGES = [
    "bytes= 1-2", "bytes=+1-2", "bytes=1_0-", "bytes=1-2=3", "bytes=\t1-2", "bytes=1- 3", "bytes=5-2", "bytes=5-4",
    "bytes=-0", "bytes=0-0", "bytes=-1-", "bytes=0x1-", "bytes=-+5", "bytes=- 5", "bytes=25-", "bytes=3-100",
    "bytes=1--1", "Bytes=1-2", "bytes=1-2,3-4", "bytes=-5,-1", "bytes=00001-00002", "bytes=-00003", "bytes=",
    "bytes=99999999999999999999-", "bytes=-99999999999999999999", "bytes=-25", "bytes=0-99999999999999999999",
  ];
  /** Where the reference's answer to a Range header is a failure of its own, by name. */
  const REFERENCE_RANGE_BUGS: Readonly<Record<string, string>> = {
    "bytes=-25": "a suffix longer than the object: the reference's seek fails with EINVAL → 500; we answer the whole object",
    "bytes=0-99999999999999999999":
      "an end beyond any offset: the reference's read fails (OverflowError) → 500; we refuse the range with 400",
  };

  it("answers odd Range headers (blanks, signs, underscores, inverted, huge) as the reference does", async () => {
    const value = "0123456789abcdefghij";
    const headers = { Accept: "application/vnd.x.borgstore.rest.v1", Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` };
    const answer = async (port: number, range: string): Promise<string> => {
      const res = await fetch(`http://127.0.0.1:${port}/ns/range`, { headers: { ...headers, Range: range } });
      const body = await res.text();
      return `${res.status} ${res.status < 300 ? body : ""}`;
    };
    for (const port of [ours.port, reference.port]) {
      await fetch(`http://127.0.0.1:${port}/?cmd=create`, { method: "POST", headers });
      const stored = await fetch(`http://127.0.0.1:${port}/ns/range`, { method: "POST", headers, body: value });
      expect(stored.status).toBe(200);
    }
    const differences: string[] = [];
    for (const range of ODD_RANGES) {
      const [a, b] = [await answer(ours.port, range), await answer(reference.port, range)];
      if (a !== b && !(range in REFERENCE_RANGE_BUGS && b.startsWith("500")))
        differences.push(`${JSON.stringify(range)}: ours ${JSON.stringify(a)}, reference ${JSON.stringify(b)}`);
    }
    expect(differences).toEqual([]);
  });
});
