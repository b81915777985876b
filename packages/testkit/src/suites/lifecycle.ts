import type { Backend } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, chunkedSource, collect, listNames, textOf } from "../helpers.js";

/** Every operation that needs an open backend, each tried once with harmless arguments. */
const OPERATIONS_NEEDING_OPEN: ReadonlyArray<[string, (b: Backend) => Promise<unknown>]> = [
  ["list", (b) => listNames(b, "dir")],
  ["mkdir", (b) => b.mkdir("dir")],
  ["rmdir", (b) => b.rmdir("dir")],
  ["store", (b) => b.store("key", bytesOf("value"))],
  ["storeStream", (b) => b.storeStream("key", chunkedSource(bytesOf("value")))],
  ["load", (b) => b.load("key")],
  ["loadStream", async (b) => collect(await b.loadStream("key"))],
  ["info", (b) => b.info("key")],
  ["delete", (b) => b.delete("key")],
  ["move", (b) => b.move("key", "otherkey")],
  ["hash", (b) => b.hash("key")],
  ["defrag", (b) => b.defrag([], { target: "key" })],
  ["quota", (b) => b.quota()],
  ["close", (b) => b.close()],
];

export function registerLifecycleTests(suite: Suite): void {
  suite.topic("lifecycle", () => {
    suite.test(
      "create, open, store, close, open again: the value is still there",
      async ({ backend }) => {
        expect(backend.opened).toBe(false);
        await backend.create();
        await backend.open();
        expect(backend.opened).toBe(true);
        await backend.store("key", bytesOf("value"));
        await backend.close();
        expect(backend.opened).toBe(false);
        await backend.open();
        expect(textOf(await backend.load("key"))).toBe("value");
      },
      { stage: "fresh" },
    );

    suite.test(
      "create on a store that holds an object fails with BACKEND_ALREADY_EXISTS",
      async ({ backend }) => {
        await backend.open();
        await backend.store("key", bytesOf("value"));
        await backend.close();
        await expectCode(backend.create(), "BACKEND_ALREADY_EXISTS");
      },
      { stage: "created" },
    );

    suite.test(
      "destroy twice fails the second time with BACKEND_DOES_NOT_EXIST, and create works again",
      async ({ backend }) => {
        await backend.destroy();
        await expectCode(backend.destroy(), "BACKEND_DOES_NOT_EXIST");
        await backend.create();
        await backend.open();
        expect(await listNames(backend, "")).toEqual([]);
      },
      { stage: "created" },
    );

    suite.test(
      "destroy removes every object: a store created again at the same place is empty",
      async ({ backend }) => {
        await backend.open();
        await backend.store("key", bytesOf("value"));
        await backend.store("ns/deeper/key", bytesOf("value"));
        await backend.close();
        await backend.destroy();
        await backend.create();
        await backend.open();
        expect(await listNames(backend, "")).toEqual([]);
      },
      { stage: "created" },
    );

    suite.test(
      "open of a store that was never created fails with BACKEND_DOES_NOT_EXIST",
      async ({ backend }) => {
        await expectCode(backend.open(), "BACKEND_DOES_NOT_EXIST");
        expect(backend.opened).toBe(false);
      },
      { stage: "fresh" },
    );

    for (const [operation, call] of OPERATIONS_NEEDING_OPEN) {
      suite.test(
        `${operation} on a created but closed backend fails with BACKEND_MUST_BE_OPEN`,
        async ({ backend }) => {
          await expectCode(call(backend), "BACKEND_MUST_BE_OPEN");
        },
        { stage: "created" },
      );
    }

    suite.test("operations fail with BACKEND_MUST_BE_OPEN again after close", async ({ backend }) => {
      await backend.store("key", bytesOf("value"));
      await backend.close();
      await expectCode(backend.load("key"), "BACKEND_MUST_BE_OPEN");
      await expectCode(backend.store("key", bytesOf("other")), "BACKEND_MUST_BE_OPEN");
      await expectCode(listNames(backend, ""), "BACKEND_MUST_BE_OPEN");
    });

    for (const operation of ["open", "create", "destroy"] as const) {
      suite.test(`${operation} on an open backend fails with BACKEND_MUST_NOT_BE_OPEN`, async ({ backend }) => {
        await expectCode(backend[operation](), "BACKEND_MUST_NOT_BE_OPEN");
        expect(backend.opened).toBe(true);
      });
    }
  });
}
