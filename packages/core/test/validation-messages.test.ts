import { describe, expect, it } from "vitest";
import {
  InvalidArgument,
  ObjectNotFound,
  PERMISSION_SHORTCUTS,
  digest,
  isBorgStoreError,
  nest,
  parsePermissions,
  unnest,
} from "../src/index.js";
import { resolveRange, validateLoadOptions, isWholeValue } from "../src/backend-kit/index.js";
import { checkHashAlgorithm } from "../src/hashing.js";
import { checkPermissions, mayBeGrantedBelow } from "../src/permissions.js";
import { nameProblem } from "../src/names.js";
import { splitKey } from "../src/nesting.js";

describe("permissions parsing and checking", () => {
  it("names the shortcuts when the text is neither one nor JSON, keeping the parse error as cause", () => {
    let error: unknown;
    try {
      parsePermissions("nope");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidArgument);
    expect((error as Error).message).toBe(`Invalid permissions: nope (use one of ${Object.keys(PERMISSION_SHORTCUTS).join(", ")} or a JSON object)`);
    expect((error as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it.each([null, [], "lr", 5])("refuses %j as a mapping", (value) => {
    expect(() => checkPermissions(value)).toThrow(new InvalidArgument("permissions must be an object mapping paths to letters from lrwWD"));
  });

  it.each([
    [{ a: 5 }, "5"],
    [{ a: "lx" }, "lx"],
  ])("refuses letters %j with the path and letters in the message", (value, shown) => {
    expect(() => checkPermissions(value)).toThrow(new InvalidArgument(`permissions for 'a' must be letters from lrwWD, but got: ${shown}`));
  });

  it("an empty mapping means unrestricted", () => {
    expect(checkPermissions({})).toBeUndefined();
    expect(mayBeGrantedBelow(undefined, "data", "w")).toBe(true);
  });

  it("mayBeGrantedBelow looks only at entries below the prefix", () => {
    const permissions = { "": "lr", other: "lrw", "data/sub": "lrw" };
    expect(mayBeGrantedBelow(permissions, "data", "w")).toBe(true);
    expect(mayBeGrantedBelow(permissions, "config", "w")).toBe(false);
  });
});

describe("hash algorithm names", () => {
  it.each(["shake_128", "SHAKE256"])("refuses the variable-length %s whatever its case, saying why", (name) => {
    expect(() => checkHashAlgorithm(name)).toThrow(new InvalidArgument(`${name} has a variable-length digest: give a fixed-length algorithm`));
  });

  it("hashes with a wasm algorithm to the published test vector", async () => {
    expect(await digest("blake3", new TextEncoder().encode("abc"))).toBe("6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
  });
});

describe("load ranges", () => {
  it("names the bad offset or size", () => {
    expect(() => validateLoadOptions({ offset: 1.5 })).toThrow(new InvalidArgument("offset must be an integer, but got: 1.5"));
    expect(() => validateLoadOptions({ size: -1 })).toThrow(new InvalidArgument("size must be a non-negative integer, but got: -1"));
  });

  it("treats size null as no size (the whole rest), as undefined", () => {
    expect(() => validateLoadOptions({ size: null as unknown as undefined })).not.toThrow();
    expect(resolveRange({ offset: 2, size: null as unknown as undefined }, 10)).toEqual({ start: 2, end: 10 });
    expect(isWholeValue({ size: null as unknown as undefined })).toBe(true);
  });
});

describe("names and nesting", () => {
  it("refuses NUL in a name with its own message", () => {
    expect(nameProblem("a\0b")).toBe('name must not contain NUL characters, but got: "a\\u0000b"');
  });

  it("names the levels and the namespace in nesting errors", () => {
    expect(() => nest("ns/0001", 99)).toThrow(InvalidArgument);
    expect(() => nest("ns/0001", 99)).toThrow(/^levels must be an integer from 0 to \d+, but got: 99$/);
    expect(() => unnest("x/00/0001", "data")).toThrow(new InvalidArgument("name x/00/0001 does not start with namespace data/"));
  });

  it("splitKey splits at the last slash, even the first character", () => {
    expect(splitKey("/x")).toEqual(["", "x"]);
    expect(splitKey("x")).toEqual([undefined, "x"]);
  });

  it("unnest strips the suffix only when the key ends with it", () => {
    expect(unnest("data/00/0001.del", "data", ".del")).toBe("data/0001");
    expect(unnest("data/00/0001", "data", ".del")).toBe("data/0001");
  });
});

describe("errors", () => {
  it("isBorgStoreError tells our errors and their codes apart", () => {
    const err = new ObjectNotFound("x");
    expect(isBorgStoreError(new Error("x"))).toBe(false);
    expect(isBorgStoreError(err)).toBe(true);
    expect(isBorgStoreError(err, "OBJECT_NOT_FOUND")).toBe(true);
    expect(isBorgStoreError(err, "ABORTED")).toBe(false);
  });

  it("a coded error made without a message has an empty one", () => {
    expect(new ObjectNotFound().message).toBe("");
  });
});
