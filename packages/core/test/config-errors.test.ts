import { describe, expect, it } from "vitest";
import { InvalidArgument, MAX_NESTING_LEVELS, type NamespacePolicy } from "../src/index.js";
import { levelDirectories } from "../src/store/levels.js";
import { parseNamespaceConfig, parseStoreConfig, policyFor } from "../src/store/config.js";

const ns = (config: unknown) => () => parseNamespaceConfig("a/", config);
const invalid = (message: string) => new InvalidArgument(message);

describe("Store configuration errors say which check failed", () => {
  it.each([[{}], [[]], [null], ["levels"]])("a whole configuration %j that is no non-empty object", (config) => {
    expect(() => parseStoreConfig(config)).toThrow(invalid("No or invalid levels configuration given."));
  });

  it.each([
    [null, "null"],
    [[{ levels: [0] }], "[object Object]"],
    ["levels", "levels"],
  ])("a namespace configuration %j that is no plain object", (config, shown) => {
    expect(ns(config)).toThrow(invalid(`Namespace 'a/': configuration must be an object, but got: ${shown}`));
  });

  it.each([
    [{ levels: [0], level: 1 }, "Namespace 'a/': unknown configuration key: level"],
    [{ cache: "off" }, "Namespace 'a/': levels are required"],
    [{ levels: [] }, "Namespace 'a/': levels must be a non-empty list, but got: "],
    [{ levels: [MAX_NESTING_LEVELS + 1] }, `Invalid levels: a/: [${MAX_NESTING_LEVELS + 1}]`],
    [{ levels: [0], cache: 5 }, "Invalid cache mode: 5 (use off, mirror or writethrough)"],
    [{ levels: [0], cache: "mirror", max_age: Number.POSITIVE_INFINITY }, "Namespace 'a/': max_age must be a number >= 0, but got: Infinity"],
    [{ levels: [0], cache: "mirror", maxAge: -1 }, "Namespace 'a/': max_age must be a number >= 0, but got: -1"],
    [{ levels: [0], cache: "mirror", size: 1.5 }, "Namespace 'a/': size must be an integer >= 0, but got: 1.5"],
    [{ levels: [0], cache: "mirror", size: "1" }, "Namespace 'a/': size must be an integer >= 0, but got: 1"],
    [{ levels: [0], cache: "mirror", maxAge: 1, max_age: 2 }, "Namespace 'a/': give either maxAge or max_age, not both"],
  ])("%j", (config, message) => {
    expect(ns(config)).toThrow(invalid(message));
  });

  it("accepts the deepest nesting level, an undefined cache (off) and null max_age and size (unset)", () => {
    expect(parseNamespaceConfig("a/", { levels: [MAX_NESTING_LEVELS] }).levels).toEqual([MAX_NESTING_LEVELS]);
    expect(parseNamespaceConfig("a/", { levels: [0], cache: undefined })).toMatchObject({ cache: "off", maxAge: undefined });
    expect(parseNamespaceConfig("a/", { levels: [0], cache: "mirror", max_age: null, size: null })).toMatchObject({
      cache: "mirror",
      maxAge: undefined,
      size: undefined,
    });
  });

  it("policyFor names the item no namespace matches", () => {
    expect(() => policyFor(parseStoreConfig({ "a/": { levels: [0] } }), "b/x")).toThrow(invalid("no matching namespace found for: b/x"));
  });
});

describe("levelDirectories", () => {
  const policy = (namespace: string, levels: number[]): NamespacePolicy => ({ namespace, levels, cache: "off", maxAge: undefined, size: undefined });

  it("strips every trailing slash of the namespace, and only those", () => {
    expect([...levelDirectories(policy("a/b//", [0]))]).toEqual(["a/b"]);
    expect([...levelDirectories(policy("a/b//", [1]))].slice(0, 2)).toEqual(["a/b/00", "a/b/01"]);
  });

  it("lists 65536 two-level directories from ns/00/00 to ns/ff/ff", () => {
    const dirs = [...levelDirectories(policy("ns/", [0, 2]))];
    expect(dirs.length).toBe(65536);
    expect([dirs[0], dirs[1], dirs[256], dirs[65535]]).toEqual(["ns/00/00", "ns/00/01", "ns/01/00", "ns/ff/ff"]);
  });

  it("refuses a policy without levels (one that skipped validation)", () => {
    expect(() => [...levelDirectories(policy("ns/", []))]).toThrow(invalid("Invalid levels: ns: []"));
  });
});
