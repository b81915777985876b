import { posix } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgument, InvalidName, MAX_NAME_LENGTH, isValidName, validateItemName, validateName } from "../src/index.js";
import { itemNameProblem, nameProblem } from "../src/names.js";

describe("name validation (docs/on-disk-format.md#names)", () => {
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

describe("names that resolve to the store root or into a backend's own files", () => {
  it.each([
    [".", "must not contain '.' segments"],
    ["./a", "must not contain '.' segments"],
    ["a/.", "must not contain '.' segments"],
    ["a/./b", "must not contain '.' segments"],
    ["uploads.hid/x", "must not contain a .hid directory"],
    ["data/uploads.hid/x", "must not contain a .hid directory"],
    ["quota.hid", "must not end with .hid"],
    ["quota-session-abcdefghijkl.hid", "must not end with .hid"],
  ])("rejects %j: %s", (name, message) => {
    expect(() => validateName(name)).toThrow(InvalidName);
    expect(() => validateName(name)).toThrow(message);
  });

  it.each(["config/id", "data/00/0000aa", "archives/ab", "keys/repokey", "locks/x", "cache/y", "a.hidden/x", "x.hid2"])(
    "still accepts %j (borg's namespaces, look-alikes)",
    (name) => {
      expect(isValidName(name)).toBe(true);
      expect(itemNameProblem(name)).toBeUndefined();
    },
  );

  it("takes the root for a name (list, info) but not for an item (store, load, delete, move)", () => {
    expect(isValidName("")).toBe(true);
    expect(itemNameProblem("")).toMatch(/store root/);
    expect(() => validateItemName("")).toThrow(InvalidName);
  });

  it("no accepted item name resolves to the store root, outside it, or into a .hid file or directory (property)", () => {
    const base = "/srv/store";
    const segment = fc.oneof(
      fc.constantFrom(".", "..", "", "uploads.hid", "quota.hid", "x.hid", ".hid", "hid", "a.tmp", "..a", "a..", "...", "~"),
      fc.string({ unit: fc.constantFrom(..."abc.hid/\\"), maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (parts) => {
        const name = parts.join("/");
        if (itemNameProblem(name) !== undefined) return;
        const resolved = posix.resolve(base, name);
        expect(resolved.startsWith(`${base}/`), `${name} → ${resolved}`).toBe(true);
        const inside = resolved.slice(base.length + 1).split("/");
        expect(inside.some((part) => part.endsWith(".hid")), `${name} → ${resolved}`).toBe(false);
      }),
      { numRuns: 5000 },
    );
  });
});
