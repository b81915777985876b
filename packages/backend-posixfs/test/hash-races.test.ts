import { type HashAlgorithm, ObjectNotFound, digest } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { HASH_WHOLE_LIMIT } from "../src/hash-file.js";
import { openBackend } from "./helpers.js";

// A hash reads the file it opened: a store meanwhile renames a new file over the name and a
// delete unlinks it, neither writes into the open one. So a hash that races them gives the
// digest of one whole stored version (or ObjectNotFound), never one of a mix of versions, on the
// read-whole path (up to HASH_WHOLE_LIMIT) and on the read-in-pieces one alike.

/** Versions that differ in every byte, so that any mix of two has a digest of neither. */
const versions = (size: number) => [1, 2, 3].map((fill) => new Uint8Array(size).fill(fill));

const SIZES = [200 * 1024, 3 * HASH_WHOLE_LIMIT + 5];
const ALGORITHMS: HashAlgorithm[] = ["sha3_256", "sha1", "xxh64"];
const CASES = SIZES.flatMap((size) => [true, false].map((syncReads) => ({ size, syncReads })));

async function digestsOf(values: Uint8Array[]): Promise<Map<string, Set<string>>> {
  const byAlgorithm = new Map<string, Set<string>>();
  for (const algorithm of ALGORITHMS) byAlgorithm.set(algorithm, new Set(await Promise.all(values.map((v) => digest(algorithm, v)))));
  return byAlgorithm;
}

/** Hashes `name` over and over, every algorithm in turn, until `done` settles; returns what each gave. */
async function hashUntil(
  hash: (algorithm: HashAlgorithm) => Promise<string>,
  done: Promise<unknown>,
): Promise<Array<{ algorithm: string; result: string | Error }>> {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const results: Array<{ algorithm: string; result: string | Error }> = [];
  for (let i = 0; !finished || i < ALGORITHMS.length; i++) {
    const algorithm = ALGORITHMS[i % ALGORITHMS.length] as HashAlgorithm;
    results.push({ algorithm, result: await hash(algorithm).catch((err: Error) => err) });
    // A hash with syncReads may finish without a turn of the event loop: let the writer's I/O on.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return results;
}

describe("posixfs hash racing stores and deletes of the same name", () => {
  it.each(CASES)(
    "gives the digest of one whole stored version while stores replace the object ($size B, syncReads: $syncReads)",
    async ({ size, syncReads }) => {
      const backend = await openBackend({ syncReads });
      const values = versions(size);
      const expected = await digestsOf(values);
      await backend.store("obj", values[0] as Uint8Array);
      const writer = (async () => {
        for (let i = 1; i <= 24; i++) await backend.store("obj", values[i % values.length] as Uint8Array);
      })();
      // Two hashers at once, so that reads of the pieces path interleave with each other too.
      const results = (await Promise.all([0, 1].map(() => hashUntil((a) => backend.hash("obj", a), writer)))).flat();
      await writer;
      expect(results.length).toBeGreaterThanOrEqual(2 * ALGORITHMS.length);
      for (const { algorithm, result } of results) expect(expected.get(algorithm)?.has(result as string), `${algorithm}: ${result}`).toBe(true);
      await backend.close();
    },
  );

  it.each(CASES)(
    "gives a stored version's digest or ObjectNotFound while the object is deleted and stored again ($size B, syncReads: $syncReads)",
    async ({ size, syncReads }) => {
      const backend = await openBackend({ syncReads });
      const values = versions(size);
      const expected = await digestsOf(values);
      await backend.store("obj", values[0] as Uint8Array);
      const writer = (async () => {
        for (let i = 1; i <= 16; i++) {
          await backend.delete("obj");
          await new Promise((resolve) => setImmediate(resolve));
          await backend.store("obj", values[i % values.length] as Uint8Array);
        }
      })();
      const results = (await Promise.all([0, 1].map(() => hashUntil((a) => backend.hash("obj", a), writer)))).flat();
      await writer;
      for (const { algorithm, result } of results) {
        if (result instanceof Error) expect(result).toBeInstanceOf(ObjectNotFound);
        else expect(expected.get(algorithm)?.has(result), `${algorithm}: ${result}`).toBe(true);
      }
      // The name holds the last version stored: every hash sees it now.
      for (const algorithm of ALGORITHMS)
        expect(await backend.hash("obj", algorithm)).toBe(await digest(algorithm, values[16 % values.length] as Uint8Array));
      await backend.close();
    },
  );
});
