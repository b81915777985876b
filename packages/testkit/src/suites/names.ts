import type { Backend } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, chunkedSource, collect, listNames, textOf } from "../helpers.js";

/** Names every backend must refuse with INVALID_NAME before touching storage, each with why. */
export const INVALID_NAMES: ReadonlyArray<[name: string, why: string]> = [
  ["/etc/passwd", "absolute path"],
  ["../etc/passwd", "leading .."],
  ["foo/../etc/passwd", ".. inside"],
  ["a/../../b", "climbs above the root"],
  ["..", "only .."],
  ["foo/..", "trailing .."],
  ["...", "contains .."],
  ["/", "only a slash"],
  ["data/", "trailing slash"],
  ["..\\etc\\passwd", "backslashes"],
  ["a\\b", "backslash"],
  ["a b", "blank"],
  ["Data/key", "uppercase namespace"],
  ["KEY", "uppercase"],
  ["key.tmp", ".tmp suffix"],
  ["data/key.tmp", ".tmp suffix in a namespace"],
  ["quota.hid", ".hid suffix"],
  ["data/x.hid", ".hid suffix in a namespace"],
  ["a".repeat(101), "101 characters"],
  [`data/${"a".repeat(96)}`, "101 characters with its namespace"],
  ["ümlaut", "non-ASCII"],
  ["\u2025/x", "non-ASCII two-dot leader"],
  ["\uff0e\uff0e/x", "fullwidth dots"],
  ["nul\u0000byte", "NUL character"],
];

/** Valid names with URL syntax in them: stored and listed literally. */
export const URL_LIKE_NAMES: readonly string[] = [
  ".x",
  "x.",
  ".del",
  "-dash",
  "_under",
  "~tilde",
  "a+b",
  "a=b&c",
  "semi;colon",
  "colon:key",
  "at@host",
  "a".repeat(100),
  `data/${"b".repeat(95)}`,
];

/**
 * Valid names that percent-decode to traversal, a slash, NUL or uppercase. A backend stores them
 * literally or refuses them (INVALID_NAME / INVALID_ARGUMENT, e.g. a REST server that treats them as
 * hostile), but never decodes them into another name.
 */
export const PERCENT_ENCODED_NAMES: readonly string[] = [
  "%2e%2e/x",
  "%2e%2e%2fetc%2fpasswd",
  "a%2fb",
  "a%5cb",
  "%00",
  "%41",
  "%20",
  "%25",
];

/** Each operation that takes a name, called with `name` in the position under test. */
const OPERATIONS: ReadonlyArray<[string, (b: Backend, name: string) => Promise<unknown>]> = [
  ["info", (b, n) => b.info(n)],
  ["load", (b, n) => b.load(n)],
  ["loadStream", async (b, n) => collect(await b.loadStream(n))],
  ["store", (b, n) => b.store(n, bytesOf("value"))],
  ["storeStream", (b, n) => b.storeStream(n, chunkedSource(bytesOf("value")))],
  ["delete", (b, n) => b.delete(n)],
  ["move (source)", (b, n) => b.move(n, "target")],
  ["move (target)", (b, n) => b.move("source", n)],
  ["mkdir", (b, n) => b.mkdir(n)],
  ["rmdir", (b, n) => b.rmdir(n)],
  ["list", (b, n) => listNames(b, n)],
  ["hash", (b, n) => b.hash(n)],
  ["defrag (target)", (b, n) => b.defrag([["source", 0, 1]], { target: n })],
];

export function registerNameTests(suite: Suite): void {
  suite.topic("names", () => {
    for (const [operation, call] of OPERATIONS) {
      suite.test(`${operation} refuses traversal, encoding tricks and invalid names with INVALID_NAME`, async ({ backend }) => {
        await backend.store("source", bytesOf("value"));
        for (const [name, why] of INVALID_NAMES) {
          const err = await expectCode(call(backend, name), "INVALID_NAME").catch((e: Error) => {
            throw new Error(`${operation}(${JSON.stringify(name)}) [${why}]: ${e.message}`);
          });
          expect(err.message.length).toBeGreaterThan(0);
        }
        expect(await listNames(backend, "")).toEqual(["source"]);
        expect(textOf(await backend.load("source"))).toBe("value");
      });
    }

    suite.test("info on /etc/passwd, ../etc/passwd and foo/../etc/passwd fails with INVALID_NAME", async ({ backend }) => {
      await expectCode(backend.info("/etc/passwd"), "INVALID_NAME", "must be relative");
      await expectCode(backend.info("../etc/passwd"), "INVALID_NAME", "must be relative");
      await expectCode(backend.info("foo/../etc/passwd"), "INVALID_NAME", "must be relative");
    });

    suite.test("name errors keep the reference's message texts", async ({ backend }) => {
      await expectCode(backend.info("a".repeat(101)), "INVALID_NAME", "name is too long (max: 100)");
      await expectCode(backend.info("ümlaut"), "INVALID_NAME", "must encode to plain ascii");
      await expectCode(backend.info("KEY"), "INVALID_NAME", "must be lowercase");
      await expectCode(backend.info("key.tmp"), "INVALID_NAME", "must not end with .tmp");
      await expectCode(backend.info("key.hid"), "INVALID_NAME", "must not end with .hid");
    });

    suite.test("names with URL syntax in them are stored and listed literally", async ({ backend }) => {
      for (const [i, name] of URL_LIKE_NAMES.entries()) await backend.store(name, bytesOf(`value ${i}`));
      for (const [i, name] of URL_LIKE_NAMES.entries()) {
        expect(textOf(await backend.load(name)), name).toBe(`value ${i}`);
        expect((await backend.info(name)).size, name).toBe(`value ${i}`.length);
      }
      const roots = [...new Set(URL_LIKE_NAMES.map((n) => n.split("/")[0] as string))].sort();
      expect(await listNames(backend, "")).toEqual(roots);
      for (const name of URL_LIKE_NAMES) await backend.delete(name);
      for (const name of URL_LIKE_NAMES) expect((await backend.info(name)).exists, name).toBe(false);
    });

    suite.test("percent-encoded names are stored literally or refused, never decoded", async ({ backend }) => {
      const stored: string[] = [];
      for (const name of PERCENT_ENCODED_NAMES) {
        const outcome = await backend.store(name, bytesOf(name)).then(
          () => "stored",
          (err: unknown) => (err as { code?: string }).code ?? String(err),
        );
        expect(["stored", "INVALID_NAME", "INVALID_ARGUMENT"], `store(${JSON.stringify(name)})`).toContain(outcome);
        if (outcome === "stored") stored.push(name);
      }
      for (const name of stored) expect(textOf(await backend.load(name)), name).toBe(name);
      const roots = [...new Set(stored.map((n) => n.split("/")[0] as string))].sort();
      expect(await listNames(backend, "")).toEqual(roots);
      if (stored.includes("%2e%2e/x")) expect(await listNames(backend, "%2e%2e")).toEqual(["x"]);
      // Decoded, these would have landed on (or above) one of these names.
      for (const decoded of ["x", "etc", "a", "b", "%"]) expect((await backend.info(decoded)).exists, decoded).toBe(false);
    });

    suite.test("a name of exactly 100 characters including its namespace is valid", async ({ backend }) => {
      const name = `data/${"c".repeat(95)}`;
      expect(name.length).toBe(100);
      await backend.store(name, bytesOf("value"));
      expect(await listNames(backend, "data")).toEqual(["c".repeat(95)]);
    });
  });
}
