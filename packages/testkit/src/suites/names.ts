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

/** Valid names that look like traversal or URL syntax: stored literally, never decoded. */
export const TRICKY_VALID_NAMES: readonly string[] = [
  "%2e%2e/x",
  "%2e%2e%2fetc%2fpasswd",
  "a%2fb",
  "%00",
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

    suite.test("names that look like URL encoding or traversal are stored literally", async ({ backend }) => {
      const expected = new Map<string, string>();
      for (const [i, name] of TRICKY_VALID_NAMES.entries()) {
        await backend.store(name, bytesOf(`value ${i}`));
        expected.set(name, `value ${i}`);
      }
      for (const [name, value] of expected) {
        expect(textOf(await backend.load(name)), name).toBe(value);
        expect((await backend.info(name)).size, name).toBe(value.length);
      }
      const roots = [...new Set(TRICKY_VALID_NAMES.map((n) => n.split("/")[0] as string))].sort();
      expect(await listNames(backend, "")).toEqual(roots);
      expect(await listNames(backend, "%2e%2e")).toEqual(["x"]);
      // A decoded "%2e%2e/x" would have escaped to "x" or above the store.
      expect((await backend.info("x")).exists).toBe(false);
      for (const name of TRICKY_VALID_NAMES) await backend.delete(name);
      expect((await backend.info("%2e%2e/x")).exists).toBe(false);
    });

    suite.test("a name of exactly 100 characters including its namespace is valid", async ({ backend }) => {
      const name = `data/${"c".repeat(95)}`;
      expect(name.length).toBe(100);
      await backend.store(name, bytesOf("value"));
      expect(await listNames(backend, "data")).toEqual(["c".repeat(95)]);
    });
  });
}
