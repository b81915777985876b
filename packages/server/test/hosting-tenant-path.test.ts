import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HttpError } from "../src/http-error.js";
import { parseRequestTarget } from "../src/request-target.js";
import { isName, parseTenantTarget } from "../src/hosting/tenant-path.js";

/** The rule as first written, with a regular expression: what finding the slashes by index must still answer. */
function byPattern(rawTarget: string): { user: string; repo: string; key: string; rest: string } | undefined {
  if (!rawTarget.startsWith("/")) return undefined;
  const q = rawTarget.indexOf("?");
  const path = q < 0 ? rawTarget : rawTarget.slice(0, q);
  const query = q < 0 ? "" : rawTarget.slice(q);
  const match = /^\/([^/]*)\/([^/]*)(\/.*)?$/.exec(path);
  if (!match) return undefined;
  const [, user = "", repo = "", rest = "/"] = match;
  if (!isName(user) || !isName(repo)) return undefined;
  if (rest.startsWith("//")) throw new HttpError(400, "Bad Request: empty path segment");
  return { user, repo, key: `${user}/${repo}`, rest: `${rest}${query}` };
}

/** What a parse answered, its query as text (URLSearchParams compare equal whatever they hold). */
function outcome(parse: () => { target: { query: URLSearchParams } } | undefined): unknown {
  try {
    const tenant = parse();
    return tenant && { ...tenant, target: { ...tenant.target, query: tenant.target.query.toString() } };
  } catch (err) {
    return { threw: (err as Error).message };
  }
}

describe("hosting request targets", () => {
  it("name the same repository and target as the pattern, for targets made of slashes, names, dots, query and odd characters", () => {
    const piece = fc.constantFrom("/", "//", "alice", "laptop", "a.b", "..", ".", "A", "%2f", "?", "cmd=create", "&", "x", "", "é", "-a");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const raw = pieces.join("");
        const expected = outcome(() => {
          const tenant = byPattern(raw);
          return tenant && { user: tenant.user, repo: tenant.repo, key: tenant.key, target: parseRequestTarget(tenant.rest) };
        });
        expect(outcome(() => parseTenantTarget(raw))).toEqual(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it("read the repository and the item below it", () => {
    expect(parseTenantTarget("/alice/laptop/data/00/k?x=1")).toMatchObject({
      user: "alice",
      repo: "laptop",
      key: "alice/laptop",
      target: { name: "data/00/k", isDirectory: false },
    });
    expect(parseTenantTarget("/alice/laptop?cmd=create")).toMatchObject({ key: "alice/laptop", target: { name: "" } });
    expect(parseTenantTarget("/alice?x=/y/z")).toBeUndefined();
  });

  it("find the repository's end before the query, even when the query holds slashes; refuse an empty segment after it with 400", () => {
    expect(parseTenantTarget("/alice/laptop?x=/y")).toMatchObject({ key: "alice/laptop", target: { name: "" } });
    expect(parseTenantTarget("/alice/laptop/k?x=/y/z")).toMatchObject({ key: "alice/laptop", target: { name: "k" } });
    let refusal: unknown;
    try {
      parseTenantTarget("/alice/laptop//data");
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(HttpError);
    expect(refusal).toMatchObject({ status: 400, message: "Bad Request: empty path segment" });
    // Only right after the repository: further down a doubled slash is the reference's (a directory "data").
    expect(parseTenantTarget("/alice/laptop/data//")).toMatchObject({ key: "alice/laptop", target: { name: "data", isDirectory: true } });
  });
});
