import type { Backend, ByteSource } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode, expectSameBytes } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, chunkedSource, listNames, randomBytes, textOf } from "../helpers.js";

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

    suite.test("aborting a storeStream while its source waits rejects with ABORTED and stores nothing", async ({ backend }) => {
      const controller = new AbortController();
      let markStalled = () => {};
      const stalled = new Promise<void>((resolve) => (markStalled = resolve));
      const storing = backend.storeStream("key", stalledSource(randomBytes(100_000), markStalled), { signal: controller.signal });
      storing.catch(() => {});
      await stalled;
      controller.abort();
      await expectCode(storing, "ABORTED");
      await expectNothingLeft(backend, "key");
    });

    for (const [moment, after] of [
      ["after the first chunk", 1],
      ["halfway", Math.max(1, Math.floor(size / 65_536 / 2))],
      ["right after the last chunk", Number.POSITIVE_INFINITY],
    ] as const) {
      suite.test(`aborting a ${size}-byte storeStream ${moment} rejects with ABORTED and stores nothing`, async ({ backend }) => {
        const controller = new AbortController();
        const value = randomBytes(size);
        await expectCode(backend.storeStream("key", abortingSource(value, controller, after), { signal: controller.signal }), "ABORTED");
        await expectNothingLeft(backend, "key");
        const sized = new AbortController();
        await expectCode(
          backend.storeStream("ns/key", abortingSource(value, sized, after), { size, signal: sized.signal }),
          "ABORTED",
        );
        expect((await backend.info("ns/key")).exists, "with size: ns/key must not exist").toBe(false);
        expect(await listNames(backend, "ns").catch(() => []), "with size: nothing in ns").toEqual([]);
      });
    }

    suite.test("an aborted storeStream over an existing object leaves the old value intact", async ({ backend }) => {
      const old = randomBytes(100_000);
      await backend.store("key", old);
      const controller = new AbortController();
      await expectCode(backend.storeStream("key", abortingSource(randomBytes(300_000), controller, 2), { signal: controller.signal }), "ABORTED");
      expectSameBytes(await backend.load("key"), old);
      expect(await listNames(backend, "")).toEqual(["key"]);
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

    suite.test("aborting a loadStream mid-way rejects the next read with ABORTED and leaves the backend usable", async ({ backend }) => {
      const value = randomBytes(size);
      await backend.store("key", value);
      const controller = new AbortController();
      const source = await backend.loadStream("key", { signal: controller.signal });
      const iterator = source[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      controller.abort();
      await expectCode(iterator.next(), "ABORTED");
      await backend.store("key", bytesOf("replaced"));
      expect(textOf(await backend.load("key"))).toBe("replaced");
      await backend.delete("key");
      expect(await listNames(backend, "")).toEqual([]);
    });

    suite.test("aborting a list mid-way rejects the next step with ABORTED", async ({ backend }) => {
      for (let i = 0; i < 5; i++) await backend.store(`k${i}`, bytesOf("v"));
      const controller = new AbortController();
      const iterator = backend.list("", { signal: controller.signal })[Symbol.asyncIterator]();
      expect((await iterator.next()).done).toBe(false);
      controller.abort();
      await expectCode(iterator.next(), "ABORTED");
      expect(await listNames(backend, "")).toEqual(["k0", "k1", "k2", "k3", "k4"]);
    });
  });
}
