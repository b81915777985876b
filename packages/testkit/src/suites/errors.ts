import { type Backend, ErrorCodes } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, collect, listNames, textOf } from "../helpers.js";

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));

/** Rejects with an error of core's shape: an Error with a known upper-case code. Returns the code. */
async function expectCodedError(action: Promise<unknown>): Promise<string> {
  const err = await action.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the operation must fail").toBeInstanceOf(Error);
  const code = (err as { code?: unknown }).code;
  expect(KNOWN_CODES.has(String(code)), `error code must be one of core's ErrorCodes, got ${String(code)}: ${String(err)}`).toBe(true);
  return String(code);
}

const MISSING_OPERATIONS: ReadonlyArray<[string, (b: Backend, name: string) => Promise<unknown>]> = [
  ["load", (b, n) => b.load(n)],
  ["load with a range", (b, n) => b.load(n, { offset: 1, size: 2 })],
  ["loadStream", async (b, n) => collect(await b.loadStream(n))],
  ["delete", (b, n) => b.delete(n)],
  ["move", (b, n) => b.move(n, "target")],
  ["hash", (b, n) => b.hash(n)],
  ["defrag source", (b, n) => b.defrag([[n, 0, 1]], { target: "target" })],
];

export function registerErrorTests(suite: Suite): void {
  suite.topic("errors", () => {
    for (const [operation, call] of MISSING_OPERATIONS) {
      suite.test(`${operation} of a missing object fails with OBJECT_NOT_FOUND naming it`, async ({ backend }) => {
        await backend.mkdir("data");
        for (const name of ["missing", "data/missing", "nons/deeper/missing"]) {
          const err = await expectCode(call(backend, name), "OBJECT_NOT_FOUND");
          expect(err.message, `${operation}(${name})`).toContain(name.slice(name.lastIndexOf("/") + 1));
        }
        expect((await backend.info("target")).exists).toBe(false);
      });
    }

    suite.test("store of a value that is not bytes fails with INVALID_ARGUMENT and stores nothing", async ({ backend }) => {
      for (const value of ["text", 42, null, undefined, { length: 3 }, [1, 2, 3]])
        await expectCode(backend.store("key", value as unknown as Uint8Array), "INVALID_ARGUMENT");
      expect((await backend.info("key")).exists).toBe(false);
    });

    suite.test("storing over a directory, loading or deleting one fails with a coded error", async ({ backend, caps, skip }) => {
      if (!caps.directories) skip("capability directories: false (an object and a namespace may share a name)");
      await backend.store("dir/inside", bytesOf("value"));
      await expectCodedError(backend.store("dir", bytesOf("value")));
      await expectCodedError(backend.load("dir"));
      await expectCodedError(backend.delete("dir"));
      expect(textOf(await backend.load("dir/inside"))).toBe("value");
      expect(await backend.info("dir")).toMatchObject({ exists: true, directory: true });
    });

    suite.test("every failure a caller can provoke carries one of core's error codes", async ({ backend }) => {
      await backend.store("key", bytesOf("value"));
      const codes = [
        await expectCodedError(backend.load("missing")),
        await expectCodedError(backend.info("../x")),
        await expectCodedError(backend.load("key", { size: -1 })),
        await expectCodedError(backend.hash("key", "nope" as never)),
        await expectCodedError(backend.defrag([["key", 0, 99]], { target: "t" })),
        await expectCodedError(backend.open()),
      ];
      expect(codes).toEqual([
        "OBJECT_NOT_FOUND",
        "INVALID_NAME",
        "INVALID_ARGUMENT",
        "UNSUPPORTED_HASH_ALGORITHM",
        "READ_RANGE_ERROR",
        "BACKEND_MUST_NOT_BE_OPEN",
      ]);
    });

    suite.test("the backend stays usable after a burst of failing operations", async ({ backend }) => {
      const failures = Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0 ? backend.load(`missing${i}`) : backend.delete(`nons/missing${i}`),
      );
      const results = await Promise.allSettled(failures);
      expect(results.every((r) => r.status === "rejected")).toBe(true);
      await backend.store("key", bytesOf("still works"));
      expect(textOf(await backend.load("key"))).toBe("still works");
      expect(await listNames(backend, "")).toEqual(["key"]);
    });
  });
}
