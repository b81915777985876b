import type { Backend, ByteSource } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode, expectSameBytes } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, chunkedSource, listItems, listNames, randomBytes, textOf } from "../helpers.js";
import { namesInNamespaceIfAny } from "./namespaced.js";

/** A signal that has already fired. */
function firedSignal(): AbortSignal {
  const controller = new AbortController();
  controller.abort();
  return controller.signal;
}

/** Yields `data` in 64 KiB chunks and fires `controller` once `after` chunks went out (Infinity: after the last). */
async function* abortingSource(data: Uint8Array, controller: AbortController, after: number): ByteSource {
  let sent = 0;
  for await (const chunk of chunkedSource(data)) {
    if (sent === after) controller.abort();
    yield chunk;
    sent++;
  }
  if (after === Number.POSITIVE_INFINITY) controller.abort();
}

/** Yields `head`, then waits forever (a pipe nobody writes to any more). */
async function* stalledSource(head: Uint8Array, stalled: () => void): ByteSource {
  yield head;
  stalled();
  await new Promise(() => {});
}

/** Neither the object nor anything else (no temp entry the listing can show) is left at the root. */
async function expectNothingLeft(backend: Backend, name: string, names: string[] = []): Promise<void> {
  expect((await backend.info(name)).exists, `${name} must not exist`).toBe(false);
  expect(await listNames(backend, ""), "the root lists nothing new (no temp entries)").toEqual(names);
}

export function registerAbortTests(suite: Suite): void {
  const size = suite.options.streamValueSize;

  suite.topic("abort", () => {
    suite.test("an already-aborted signal rejects every operation with ABORTED and changes nothing", async ({ backend }) => {
      await backend.store("kept", bytesOf("kept value"));
      const signal = firedSignal();
      await expectCode(backend.store("key", bytesOf("x"), { signal }), "ABORTED");
      await expectCode(backend.storeStream("key", chunkedSource(bytesOf("x")), { signal }), "ABORTED");
      await expectCode(backend.info("kept", { signal }), "ABORTED");
      await expectCode(backend.load("kept", { signal }), "ABORTED");
      await expectCode(backend.loadStream("kept", { signal }), "ABORTED");
      await expectCode(backend.hash("kept", "sha256", { signal }), "ABORTED");
      await expectCode(listNames(backend, "", { signal }), "ABORTED");
      await expectCode(backend.delete("kept", { signal }), "ABORTED");
      await expectCode(backend.move("kept", "moved", { signal }), "ABORTED");
      await expectCode(backend.mkdir("dir", { signal }), "ABORTED");
      await expectCode(backend.quota({ signal }), "ABORTED");
      expect(textOf(await backend.load("kept"))).toBe("kept value");
      await expectNothingLeft(backend, "key", ["kept"]);
    });

    suite.test(`a ${size}-byte storeStream aborted at any moment rejects with ABORTED and leaves nothing, nor harms an old value`, async ({ backend }) => {
      const old = randomBytes(100_000);
      await backend.store("old", old);
      const value = randomBytes(size);
      const halfway = Math.max(1, Math.floor(size / 65_536 / 2));
      const moments = [
        ["after the first chunk", 1],
        ["halfway", halfway],
        ["right after the last chunk", Number.POSITIVE_INFINITY],
      ] as const;
      for (const [moment, after] of moments) {
        for (const [name, options] of [
          ["key", {}],
          ["ns/key", { size }],
          ["old", {}],
        ] as const) {
          const controller = new AbortController();
          const what = `${name} ${JSON.stringify(options)} aborted ${moment}`;
          const err = await backend
            .storeStream(name, abortingSource(value, controller, after), { ...options, signal: controller.signal })
            .then(
              () => undefined,
              (e: { code?: string }) => e,
            );
          expect(err?.code, what).toBe("ABORTED");
          if (name !== "old") expect((await backend.info(name)).exists, `${what}: must not exist`).toBe(false);
        }
      }
      const controller = new AbortController();
      let markStalled = () => {};
      const stalled = new Promise<void>((resolve) => (markStalled = resolve));
      const storing = backend.storeStream("key", stalledSource(randomBytes(100_000), markStalled), { signal: controller.signal });
      storing.catch(() => {});
      await stalled;
      controller.abort();
      await expectCode(storing, "ABORTED");
      expectSameBytes(await backend.load("old"), old, "the old value after aborted overwrites");
      // A nesting directory made for ns/key may stay (as after any failed store); its content may not.
      const objects = (await listItems(backend, "")).filter((item) => !item.directory).map((item) => item.name);
      expect(objects, "the root lists only the old value (no temp entries)").toEqual(["old"]);
      expect(await namesInNamespaceIfAny(backend, "ns"), "nothing in ns").toEqual([]);
    });

    suite.test("an abort racing a store's end either stores nothing (ABORTED) or the whole value", async ({ backend }) => {
      const value = randomBytes(size);
      for (const delay of [0, 1, 5, 20]) {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), delay);
        const outcome = await backend.storeStream(`key${delay}`, chunkedSource(value), { signal: controller.signal }).then(
          () => "stored",
          (err: { code?: string }) => err.code,
        );
        clearTimeout(timer);
        const info = await backend.info(`key${delay}`);
        if (outcome === "stored") expectSameBytes(await backend.load(`key${delay}`), value, `key${delay}`);
        else expect([outcome, info.exists], `key${delay}: rejected with ABORTED and nothing visible`).toEqual(["ABORTED", false]);
        const small = new AbortController();
        const storing = backend.store(`small${delay}`, bytesOf("small"), { signal: small.signal });
        setTimeout(() => small.abort(), delay);
        const smallOutcome = await storing.then(
          () => "stored",
          (err: { code?: string }) => err.code,
        );
        const smallInfo = await backend.info(`small${delay}`);
        expect(smallOutcome === "stored" ? smallInfo.size : [smallOutcome, smallInfo.exists], `small${delay}`).toEqual(
          smallOutcome === "stored" ? 5 : ["ABORTED", false],
        );
      }
      const names = await listNames(backend, "");
      for (const name of names) expect(name, "only the stored names, no temp entries").toMatch(/^(key|small)\d+$/);
    });

    suite.test("an aborted loadStream or list stops with ABORTED and leaves the backend usable", async ({ backend }) => {
      const value = randomBytes(size);
      await backend.store("key", value);
      const controller = new AbortController();
      const iterator = (await backend.loadStream("key", { signal: controller.signal }))[Symbol.asyncIterator]();
      expect((await iterator.next()).done).toBe(false);
      controller.abort();
      await expectCode(iterator.next(), "ABORTED");
      await backend.store("key", bytesOf("replaced"));
      expect(textOf(await backend.load("key"))).toBe("replaced");
      for (let i = 0; i < 4; i++) await backend.store(`k${i}`, bytesOf("v"));
      const listing = new AbortController();
      const items = backend.list("", { signal: listing.signal })[Symbol.asyncIterator]();
      expect((await items.next()).done).toBe(false);
      listing.abort();
      await expectCode(items.next(), "ABORTED");
      expect(await listNames(backend, "")).toEqual(["k0", "k1", "k2", "k3", "key"]);
    });
  });
}
