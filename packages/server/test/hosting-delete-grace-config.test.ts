import { describe, expect, it } from "vitest";
import { type DeleteGrace, holdsProtected, isProtected } from "../src/hosting/delete-grace-config.js";

// Which names a delete grace protects, on its own: a protected namespace, and the folders that hold one.

describe("delete grace namespaces", () => {
  const grace: DeleteGrace = { graceMs: 60_000, protect: ["data/", "cache/index/"] };

  it("protects the names inside a protected namespace, with runs of slashes read as one", () => {
    expect(isProtected(grace, "data/00/abc")).toBe(true);
    expect(isProtected(grace, "data//00/abc")).toBe(true);
    expect(isProtected(grace, "cache/index/x")).toBe(true);
    expect(isProtected(grace, "cache/other")).toBe(false);
    expect(isProtected(grace, "database")).toBe(false);
  });

  it("counts a folder as holding protected items when a protected namespace is inside it, not when it ends like one", () => {
    expect(holdsProtected(grace, "data")).toBe(true);
    expect(holdsProtected(grace, "cache")).toBe(true);
    // "index" is the last segment of cache/index/, but the folder "index" holds nothing of it.
    expect(holdsProtected(grace, "index")).toBe(false);
    expect(holdsProtected(grace, "config")).toBe(false);
  });
});
