import { describe, expect, it } from "vitest";
import { ErrorCodes, parseSize } from "../src/index.js";

describe("parseSize", () => {
  it.each([
    ["0", 0],
    ["1048576", 1048576],
    ["  42  ", 42],
    ["7b", 7],
    ["7B", 7],
    ["64k", 64 * 1024],
    ["64K", 64 * 1024],
    ["4M", 4 * 1024 ** 2],
    ["4mb", 4 * 1024 ** 2],
    ["4MiB", 4 * 1024 ** 2],
    ["10G", 10 * 1024 ** 3],
    ["2gb", 2 * 1024 ** 3],
    ["1.5TiB", 1.5 * 1024 ** 4],
    ["3 t", 3 * 1024 ** 4],
    ["2P", 2 * 1024 ** 5],
    ["0.5k", 512],
    ["1.25k", 1280],
  ])("reads %j as %d bytes (units are powers of 1024)", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(["", " ", "-1", "k", "1.5", "1e3", "1x", "1kk", "1ib", "abc 1", "1 2", "10E", "1.k", ".5k", "8P"])(
    "refuses %j with InvalidArgument naming it",
    (text) => {
      let caught: unknown;
      try {
        parseSize(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      expect((caught as Error).message).toContain(`"${text}"`);
    },
  );

  it("says why a number that parses is refused: a fraction of a byte, or beyond 2^53", () => {
    expect(() => parseSize("1.5")).toThrow(/not a whole number of bytes below 2\^53/);
    expect(() => parseSize("8P")).toThrow(/not a whole number of bytes below 2\^53/);
    expect(() => parseSize("1x")).toThrow(/use bytes, or a number with k, M, G, T or P/);
  });
});
