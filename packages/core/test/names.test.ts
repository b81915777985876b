import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgument, InvalidName, MAX_NAME_LENGTH, isValidName, nameProblem, validateName } from "../src/index.js";

describe("name validation (spec §9)", () => {
  it.each([
    ["", "the root"],
    ["data/12/34/12345678", "a nested name"],
    ["data/12345678.del", "a soft-deleted name"],
    ["a//b", "empty segments (not rejected, as in the reference)"],
    ["tab\there", "a tab"],
    ["x".repeat(MAX_NAME_LENGTH), "100 characters"],
  ])("accepts %j (%s)", (name) => {
    expect(() => validateName(name)).not.toThrow();
  });

  it.each([
    [42, "must be str"],
    ["x".repeat(MAX_NAME_LENGTH + 1), "name is too long (max: 100)"],
    ["caf\u00e9", "must encode to plain ascii"],
    ["/etc/passwd", "must be relative and not contain '..'"],
    ["data/", "must be relative and not contain '..'"],
    ["../etc/passwd", "must be relative and not contain '..'"],
    ["foo/../etc/passwd", "must be relative and not contain '..'"],
    ["a..b", "must be relative and not contain '..'"],
    ["a\\b", "must not contain backslashes"],
    ["a b", "must not contain blanks"],
    ["Data", "must be lowercase"],
    ["x.tmp", "must not end with .tmp"],
    ["quota.hid", "must not end with .hid"],
  ])("rejects %j: %s", (name, message) => {
    expect(() => validateName(name)).toThrow(InvalidName);
    expect(() => validateName(name)).toThrow(message);
  });

  it("raises InvalidName, an InvalidArgument with code INVALID_NAME", () => {
    const err = (() => {
      try {
        validateName("../x");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidArgument);
    expect(err).toMatchObject({ code: "INVALID_NAME" });
  });

  it("accepts every name built from valid segments (property)", () => {
    const segment = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789_-"), minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (parts) => {
        const name = parts.join("/");
        fc.pre(name.length <= MAX_NAME_LENGTH && !name.endsWith(".tmp") && !name.endsWith(".hid"));
        expect(isValidName(name)).toBe(true);
      }),
    );
  });

  it("never accepts a name that could leave the store (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (name) => {
        if (!isValidName(name)) return;
        expect(name.startsWith("/")).toBe(false);
        expect(name.endsWith("/")).toBe(false);
        expect(name.includes("..")).toBe(false);
        expect(name.includes("\\")).toBe(false);
        expect(name.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
        expect(name).toBe(name.toLowerCase());
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects any name with a '..' segment, wherever it is (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "bc", "..", "d1"), { minLength: 1, maxLength: 5 }), (parts) => {
        const name = parts.join("/");
        if (parts.includes("..")) expect(nameProblem(name)).toMatch(/must be relative/);
      }),
    );
  });
});
