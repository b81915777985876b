import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Backend, type CacheMode, MemoryBackend, collectBytes, isBorgStoreError } from "../src/index.js";
import { CacheLayer, CountingLayer, EmulationLayer } from "../src/backend-kit/index.js";

// Whatever a caller throws at it, the layer stack a Store builds (counting → cache → counting →
// emulation → memory, the cache counted too) answers exactly as the memory backend alone: the
// same values, the same listings, the same error codes. Nothing a layer adds is visible.

const goodName = fc.constantFrom("a", "ns/a", "ns/a", "ns/b", "ns/00/0011", "ns/00/0011.del", "deep/x/y/z");
const hostileName = fc.oneof(
  fc.constantFrom("", "/", "/a", "a/", "../a", "ns/../a", "A", "a b", "x.tmp", "q.hid", "a//b", "ns", "x".repeat(101), "\u0000", "é"),
  fc.string({ maxLength: 12 }),
  fc.constantFrom(undefined, null, 42, {}) as fc.Arbitrary<unknown>,
);
const name = fc.oneof({ weight: 4, arbitrary: goodName }, { weight: 1, arbitrary: hostileName }) as fc.Arbitrary<string>;
const number = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -6, max: 6 }) },
  { weight: 2, arbitrary: fc.integer({ min: -60, max: 60 }) },
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 1.5, 2 ** 60, undefined, "3" as unknown as number, null as unknown as number),
) as fc.Arbitrary<number | undefined>;
const value = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 1, arbitrary: fc.constantFrom("text", null, 7, [1, 2]) as fc.Arbitrary<unknown> },
) as fc.Arbitrary<Uint8Array>;

type Step = (backend: Backend) => Promise<unknown>;
// Stores and loads are the likeliest steps, so that loads find values (and slice them) often.
const step: fc.Arbitrary<[string, Step]> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(name, value).map(([n, v]): [string, Step] => [`store ${String(n)}`, (b) => b.store(n, v)]),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(name, number, number).map(([n, offset, size]): [string, Step] => [
      `load ${String(n)} ${offset} ${size}`,
      (b) => b.load(n, { offset, size }),
    ]),
  },
  fc.tuple(name, number, number).map(([n, offset, size]): [string, Step] => [
    `loadStream ${String(n)} ${offset} ${size}`,
    async (b) => collectBytes(await b.loadStream(n, { offset, size })),
  ]),
  fc.tuple(name, fc.uint8Array({ maxLength: 48 }), fc.option(fc.integer({ min: -1, max: 50 }), { nil: undefined })).map(
    ([n, v, size]): [string, Step] => [
      `storeStream ${String(n)} size ${size}`,
      (b) =>
        b.storeStream(
          n,
          (async function* () {
            yield v.subarray(0, v.byteLength >> 1);
            yield v.subarray(v.byteLength >> 1);
          })(),
          { size },
        ),
    ],
  ),
  name.map((n): [string, Step] => [`delete ${String(n)}`, (b) => b.delete(n)]),
  fc.tuple(name, name).map(([from, to]): [string, Step] => [`move ${String(from)} ${String(to)}`, (b) => b.move(from, to)]),
  name.map((n): [string, Step] => [`info ${String(n)}`, async (b) => ({ ...(await b.info(n)), atime: 0 })]),
  fc.oneof(name, fc.constantFrom("", "ns", "ns/00")).map((n): [string, Step] => [
    `list ${String(n)}`,
    async (b) => {
      const items = [];
      for await (const item of b.list(n)) items.push({ ...item, atime: 0 });
      return items;
    },
  ]),
  fc.tuple(name, fc.constantFrom("sha256", "xxh64", "nope", "")).map(([n, algorithm]): [string, Step] => [
    `hash ${String(n)} ${algorithm}`,
    (b) => b.hash(n, algorithm as never),
  ]),
);

/** What a step did, comparable across backends: its result, or its error's stable code. */
async function outcome(run: Promise<unknown>): Promise<unknown> {
  try {
    const result = await run;
    return { ok: result instanceof Uint8Array ? [...result] : result };
  } catch (err) {
    return { error: isBorgStoreError(err) ? err.code : String(err) };
  }
}

function stack(mode: CacheMode): Backend {
  const primary = new CountingLayer(new EmulationLayer(new MemoryBackend(), { bandwidth: 1e12 }));
  const cache = new CacheLayer(primary, {
    cache: new CountingLayer(new MemoryBackend()),
    policies: [{ namespace: "ns/", cache: mode }],
    logger: { warn: () => undefined },
  });
  return new CountingLayer(cache);
}

describe("the layer stack under hostile input", () => {
  it.each(["writethrough", "mirror"] as const)("%s: a move of a directory holding a cached namespace leaves no copy behind", async (mode) => {
    const layered = stack(mode);
    await layered.create();
    await layered.open();
    await layered.store("ns/a", new Uint8Array([1]));
    await layered.load("ns/a");
    await layered.move("ns", "moved");
    await expect(layered.load("ns/a")).rejects.toMatchObject({ code: "OBJECT_NOT_FOUND" });
    expect([...(await layered.load("moved/a"))]).toEqual([1]);
    await layered.close();
  });

  it.each(["writethrough", "mirror"] as const)("%s: answers every sequence of calls exactly as the memory backend alone", async (mode) => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const model = new MemoryBackend();
        const layered = stack(mode);
        for (const backend of [model, layered]) {
          await backend.create();
          await backend.open();
        }
        for (const [label, run] of steps) {
          const expected = await outcome(run(model));
          expect({ label, ...((await outcome(run(layered))) as object) }).toEqual({ label, ...(expected as object) });
        }
        await layered.close();
        expect(layered.opened).toBe(false);
      }),
      { numRuns: 150 },
    );
  });
});
