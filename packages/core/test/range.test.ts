import { describe, expect, it } from "vitest";
import { InvalidArgument } from "../src/index.js";
import { resolveRange, validateLoadOptions, isWholeValue } from "../src/backend-kit/index.js";

describe("range arithmetic", () => {
  it.each([
    [{}, 100, 0, 100],
    [{ offset: 10 }, 100, 10, 100],
    [{ offset: 10, size: 50 }, 100, 10, 60],
    [{ size: 50 }, 100, 0, 50],
    [{ offset: -10 }, 100, 90, 100],
    [{ offset: -10, size: 9 }, 100, 90, 99],
    [{ offset: -10, size: 1 }, 100, 90, 91],
    [{ offset: -2000, size: 1000 }, 3000, 1000, 2000],
    [{ offset: -3000, size: 1000 }, 3000, 0, 1000],
    [{ offset: -200 }, 100, 0, 100],
    [{ offset: 150 }, 100, 100, 100],
    [{ offset: 90, size: 50 }, 100, 90, 100],
    [{ size: 0 }, 100, 0, 0],
    [{}, 0, 0, 0],
  ])("resolves %j against %d bytes to [%d, %d)", (options, total, start, end) => {
    expect(resolveRange(options, total)).toEqual({ start, end });
  });

  it("validates offsets and sizes before a backend sees them", () => {
    expect(() => validateLoadOptions({ offset: 1.5 })).toThrow(InvalidArgument);
    expect(() => validateLoadOptions({ size: -1 })).toThrow(InvalidArgument);
    expect(() => validateLoadOptions({ size: 0.5 })).toThrow(InvalidArgument);
    expect(() => validateLoadOptions({ offset: -5, size: 2 })).not.toThrow();
  });

  it("knows when a whole value is asked for", () => {
    expect(isWholeValue({})).toBe(true);
    expect(isWholeValue({ offset: 0 })).toBe(true);
    expect(isWholeValue({ offset: 1 })).toBe(false);
    expect(isWholeValue({ size: 10 })).toBe(false);
  });
});
