import {
  type RangeRequest,
  TAIL_SLACK,
  contentRangeTotal,
  firstBytes,
  parseContentRange,
  planRangeRequest,
  resolveRange,
} from "../src/backend-kit/index.js";
import { formatContentRange, parseRange } from "../src/rest-protocol/index.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type LoadOptions, collectBytes } from "../src/index.js";

/** The bytes [start, end) an HTTP server (RFC 9110 byte ranges) sends for `range` of a value of `total` bytes. */
function served(range: string | undefined, total: number): { start: number; end: number } {
  if (range === undefined) return { start: 0, end: total };
  const suffix = /^bytes=-(\d+)$/.exec(range);
  if (suffix) return { start: Math.max(0, total - Number(suffix[1])), end: total };
  const from = /^bytes=(\d+)-(\d*)$/.exec(range);
  if (!from) throw new Error(`not a range: ${range}`);
  const start = Math.min(Number(from[1]), total);
  const end = from[2] === "" ? total : Math.min(total, Number(from[2]) + 1);
  return { start, end: Math.max(start, end) };
}

/** What a load following `plan` ends up with: the served bytes, cut to `keep`. */
function delivered(plan: RangeRequest | undefined, total: number): { start: number; end: number; fetched: number } {
  if (!plan) return { start: 0, end: 0, fetched: 0 };
  const { start, end } = served(plan.range, total);
  const kept = plan.keep === undefined ? end : Math.min(end, start + plan.keep);
  return { start, end: kept, fetched: end - start };
}

const totals = fc.oneof(fc.nat(300), fc.integer({ min: TAIL_SLACK - 50, max: 3 * TAIL_SLACK }));
const loads = (total: number) =>
  fc.record({
    offset: fc.oneof(fc.integer({ min: -total - 20, max: total + 20 }), fc.integer({ min: -total - 2 * TAIL_SLACK, max: 0 }), fc.constant(0)),
    size: fc.option(fc.oneof(fc.nat(300), fc.nat(3 * TAIL_SLACK)), { nil: undefined }),
  });
const cases = totals.chain((total) => fc.tuple(fc.constant(total), loads(total)));

function sameBytes(got: { start: number; end: number }, want: { start: number; end: number }): boolean {
  const wantLength = want.end - want.start;
  return got.end - got.start === wantLength && (wantLength === 0 || got.start === want.start);
}

describe("planRangeRequest: load options → HTTP byte range", () => {
  it("delivers exactly the bytes resolveRange names, whether or not the length can be asked", async () => {
    await fc.assert(
      fc.asyncProperty(cases, fc.boolean(), async ([total, options], canAsk) => {
        const plan = await planRangeRequest(options, canAsk ? async () => total : undefined);
        expect(sameBytes(delivered(plan, total), resolveRange(options, total))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("fetches at most TAIL_SLACK bytes more than asked for, and asks the length only for a far, short tail slice", async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ([total, options]) => {
        let asked = false;
        const plan = await planRangeRequest(options, async () => {
          asked = true;
          return total;
        });
        const { start, end } = resolveRange(options, total);
        expect(delivered(plan, total).fetched - (end - start)).toBeLessThanOrEqual(TAIL_SLACK);
        const { offset = 0, size } = options;
        expect(asked).toBe(offset < 0 && size !== undefined && size > 0 && -offset - size > TAIL_SLACK);
        // A range computed from a looked-up length is checked against it: the name may change meanwhile.
        if (asked) expect(plan === undefined || (plan.range !== undefined && plan.expectTotal === total)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("with the length known, asks for exactly the wanted bytes, with that length to check, and sends no Range only for a load of the whole value", async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ([total, options]) => {
        const plan = await planRangeRequest(options, total);
        const { start, end } = resolveRange(options, total);
        // A whole value is always asked for, without a Range, even when it was empty: the name
        // may hold another value (or none) by now.
        if ((options.offset ?? 0) === 0 && options.size === undefined) {
          expect(plan).toEqual({});
          return;
        }
        if (end <= start) {
          expect(plan).toBeUndefined();
          return;
        }
        expect(plan?.keep).toBeUndefined();
        expect(served(plan?.range, total)).toEqual({ start, end });
        const whole = (options.offset ?? 0) === 0 && options.size === undefined;
        expect(plan?.range === undefined).toBe(whole);
        if (!whole) expect(plan?.expectTotal).toBe(total);
      }),
      { numRuns: 500 },
    );
  });

  it("sends only Range headers the REST server's parseRange reads as the bytes an HTTP server sends for them", async () => {
    await fc.assert(
      fc.asyncProperty(cases, fc.boolean(), async ([total, options], canAsk) => {
        const plan = await planRangeRequest(options, canAsk ? async () => total : undefined);
        if (plan?.range === undefined) return;
        expect(resolveRange(parseRange(plan.range), total)).toEqual(served(plan.range, total));
      }),
      { numRuns: 300 },
    );
  });

  it("size 0 needs no request at all (the reference's `bytes=0--1` sent the whole value)", async () => {
    expect(await planRangeRequest({ offset: 5, size: 0 })).toBeUndefined();
    expect(await planRangeRequest({ offset: -5, size: 0 }, async () => 10)).toBeUndefined();
  });

  it.each<[LoadOptions, RangeRequest]>([
    [{}, {}],
    [{ offset: 10 }, { range: "bytes=10-" }],
    [{ offset: 10, size: 5 }, { range: "bytes=10-14" }],
    [{ offset: -10 }, { range: "bytes=-10" }],
    [{ offset: -10, size: 4 }, { range: "bytes=-10", keep: 4 }],
    [{ offset: -10, size: 40 }, { range: "bytes=-10" }],
  ])("%o → %o", async (options, want) => {
    expect(await planRangeRequest(options)).toEqual(want);
  });

  it("a short slice far from the end is an exact range for the length the look-up found", async () => {
    const tail = TAIL_SLACK * 2;
    expect(await planRangeRequest({ offset: -tail, size: 3 }, async () => tail + 100)).toEqual({
      range: "bytes=100-102",
      expectTotal: tail + 100,
    });
  });
});

describe("contentRangeTotal", () => {
  it.each([
    ["bytes 0-9/100", 100],
    ["bytes */42", 42],
    ["BYTES 1-1/2", 2],
    ["bytes 0-9/*", undefined],
    ["nonsense", undefined],
    [undefined, undefined],
  ])("%s → %s", (header, total) => {
    expect(contentRangeTotal(header)).toBe(total);
  });
});

describe("parseContentRange", () => {
  it.each([
    ["bytes 0-9/100", { first: 0, last: 9, total: 100 }],
    ["bytes */42", { first: undefined, last: undefined, total: 42 }],
    ["BYTES 1-1/2 ", { first: 1, last: 1, total: 2 }],
    ["bytes 0-9/*", { first: 0, last: 9, total: undefined }],
    ["bytes */*", undefined],
    ["bytes 0-9", undefined],
    ["bytes=0-9/100", undefined],
    ["bytes 0-99999999999999999/100000000000000000", undefined],
    [undefined, undefined],
  ])("%s → %o", (header, parts) => {
    expect(parseContentRange(header)).toEqual(parts);
  });

  it("reads back what the REST server formats", () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e9), fc.nat(1e9), (start, size, extra) => {
        const total = start + size + extra;
        const parts = size === 0 ? { total } : { first: start, last: start + size - 1, total };
        expect(parseContentRange(formatContentRange(start, size, total))).toEqual({ first: undefined, last: undefined, ...parts });
      }),
    );
  });
});

describe("firstBytes", () => {
  it("keeps the first `keep` bytes however the chunks fall, and reads the source to its end", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 8 }), fc.nat(120), async (chunks, keep) => {
        let drained = false;
        async function* source() {
          yield* chunks;
          drained = true;
        }
        const all = Buffer.concat(chunks);
        const got = await collectBytes(firstBytes(source(), keep));
        expect(Buffer.from(got)).toEqual(all.subarray(0, keep));
        expect(drained).toBe(true);
      }),
    );
  });
});
