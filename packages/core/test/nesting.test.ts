import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgument, nest, unnest } from "../src/index.js";
import { splitKey } from "../src/nesting.js";

describe("nesting", () => {
  it("splits a name into namespace and key", () => {
    expect(splitKey("12345678")).toEqual([undefined, "12345678"]);
    expect(splitKey("data/12345678")).toEqual(["data", "12345678"]);
    expect(splitKey("a/b/12345678")).toEqual(["a/b", "12345678"]);
  });

  it("nests 0 to 3 levels, with and without namespace and suffix", () => {
    expect(nest("12345678", 0)).toBe("12345678");
    expect(nest("12345678", 1)).toBe("12/12345678");
    expect(nest("12345678", 2)).toBe("12/34/12345678");
    expect(nest("12345678", 3)).toBe("12/34/56/12345678");
    expect(nest("data/12345678", 0)).toBe("data/12345678");
    expect(nest("data/12345678", 1)).toBe("data/12/12345678");
    expect(nest("data/12345678", 2)).toBe("data/12/34/12345678");
    expect(nest("data/12345678", 3, ".del")).toBe("data/12/34/56/12345678.del");
    expect(nest("data/12345678", 0, ".del")).toBe("data/12345678.del");
    expect(nest("", 0)).toBe("");
    expect(nest("", 2)).toBe("");
    expect(nest("ns/a", 2)).toBe("ns/a//a"); // the reference's quirk for short keys
  });

  it("unnests back to namespace + key, removing a suffix", () => {
    expect(unnest("12345678", "")).toBe("12345678");
    expect(unnest("12/34/12345678", "")).toBe("12345678");
    expect(unnest("data/12/34/12345678", "data")).toBe("data/12345678");
    expect(unnest("data/12/34/12345678", "data/")).toBe("data/12345678");
    expect(unnest("data/12/34/12345678.del", "data/", ".del")).toBe("data/12345678");
  });

  it("rejects a nested name outside the namespace", () => {
    expect(() => unnest("data_xxx/12/12345678", "data")).toThrow(InvalidArgument);
    expect(() => unnest("dat/12/12345678", "data")).toThrow(InvalidArgument);
  });

  const hexKey = fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 8, maxLength: 64 });
  const namespace = fc.constantFrom("", "data", "meta/sub");

  it("round-trips nest/unnest for any key, namespace, level and suffix (property)", () => {
    fc.assert(
      fc.property(hexKey, namespace, fc.integer({ min: 0, max: 4 }), fc.boolean(), (key, ns, levels, del) => {
        const name = ns ? `${ns}/${key}` : key;
        const suffix = del ? ".del" : undefined;
        const nested = nest(name, levels, suffix);
        expect(nested.split("/")).toHaveLength(name.split("/").length + levels);
        expect(unnest(nested, ns, suffix)).toBe(name);
        expect(splitKey(nested)[1]).toBe(del ? `${key}.del` : key);
      }),
    );
  });
});
