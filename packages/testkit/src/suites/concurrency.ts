import type { Backend } from "@borgstore/core";
import { expect } from "vitest";
import { expectSameBytes } from "../assertions.js";
import type { Suite } from "../harness.js";
import { namesInEmptyNamespace, namesInNamespaceIfAny } from "./namespaced.js";
import { bytesOf, chunkedSource, collect, filledBytes, key, listNames, randomBytes, sha256, textOf } from "../helpers.js";

/** Size of each competing value in the overwrite races: big enough to be written in several pieces. */
const RACE_VALUE_SIZE = 256 * 1024;

/** Which writer wrote `value`, if it is one writer's whole value (every byte the writer's mark). */
function writerOf(value: Uint8Array, size: number): number | undefined {
  if (value.byteLength !== size) return undefined;
  const mark = value[0] as number;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(Buffer.alloc(size, mark)) ? mark : undefined;
}

async function settledCodes(promises: Promise<unknown>[]): Promise<Array<string | "ok">> {
  const results = await Promise.allSettled(promises);
  return results.map((r) => (r.status === "fulfilled" ? "ok" : String((r.reason as { code?: string }).code ?? r.reason)));
}

/**
 * Stores to one name from `writers` writers at once, with `readers` loading and info-ing it
 * meanwhile; every read must see one whole value (never a gap or a mix), and the final value
 * must be one writer's.
 */
async function overwriteRace(
  backend: Backend,
  writers: number,
  readerCount: number,
  store: (name: string, value: Uint8Array) => Promise<void>,
): Promise<void> {
  const marks = Array.from({ length: writers }, (_, i) => i % 255);
  const initialMark = 255;
  await backend.store("race", filledBytes(RACE_VALUE_SIZE, initialMark));
  const allowed = new Set([initialMark, ...marks]);
  const observed: Array<number | undefined> = [];
  let writing = true;
  const readers = Array.from({ length: readerCount }, async () => {
    while (writing) {
      // Yield to the event loop: a backend that answers from memory would otherwise starve the writers.
      await new Promise((resolve) => setImmediate(resolve));
      observed.push(writerOf(await backend.load("race"), RACE_VALUE_SIZE));
      const info = await backend.info("race");
      expect(info).toMatchObject({ exists: true, size: RACE_VALUE_SIZE });
    }
  });
  try {
    await Promise.all(marks.map((mark) => store("race", filledBytes(RACE_VALUE_SIZE, mark))));
  } finally {
    writing = false;
    await Promise.all(readers);
  }
  for (const mark of observed) expect(allowed.has(mark as number), "a reader saw a mixed or partial value").toBe(true);
  const final = writerOf(await backend.load("race"), RACE_VALUE_SIZE);
  expect(marks.includes(final as number), `the final value must be one writer's whole value, got writer ${final}`).toBe(true);
  expect(await listNames(backend, "")).toEqual(["race"]);
}

export function registerConcurrencyTests(suite: Suite): void {
  const n = suite.options.concurrency;

  suite.topic("concurrency", () => {
    suite.test(`${n} stores, loads, infos and deletes of distinct names in flight at once`, async ({ backend, caps }) => {
      await backend.mkdir("data");
      const names = Array.from({ length: n }, (_, i) => `data/${key(i)}`);
      const values = names.map(() => randomBytes(1 + Math.floor(Math.random() * 70_000)));
      await Promise.all(names.map((name, i) => backend.store(name, values[i] as Uint8Array)));
      const loaded = await Promise.all(names.map((name) => backend.load(name)));
      for (const [i, value] of loaded.entries()) expectSameBytes(value, values[i] as Uint8Array, names[i]);
      const infos = await Promise.all(names.map((name) => backend.info(name)));
      for (const [i, info] of infos.entries()) expect(info).toMatchObject({ exists: true, size: values[i]?.byteLength });
      expect(await listNames(backend, "data")).toEqual(names.map((name) => name.slice(5)));
      await Promise.all(names.map((name) => backend.delete(name)));
      expect(await namesInEmptyNamespace(backend, caps, "data")).toEqual([]);
    });

    suite.test("mixed operations on many names in flight at once", async ({ backend }) => {
      const half = Math.max(1, Math.floor(n / 2));
      for (let i = 0; i < half; i++) await backend.store(`old/${key(i)}`, bytesOf(`old ${i}`));
      const oldNames = Array.from({ length: half }, (_, i) => key(i));
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < half; i++) {
        work.push(backend.store(`new/${key(i)}`, bytesOf(`new ${i}`)));
        work.push(backend.load(`old/${key(i)}`).then((v) => expect(textOf(v)).toBe(`old ${i}`)));
        work.push(backend.info(`old/${key(i)}`).then((info) => expect(info.exists).toBe(true)));
        work.push(backend.hash(`old/${key(i)}`, "sha256").then((h) => expect(h).toBe(sha256(bytesOf(`old ${i}`)))));
        work.push(listNames(backend, "old").then((names) => expect(names).toEqual(oldNames)));
        work.push(backend.load(`old/${key(i)}`, { offset: -1 }).then((v) => expect(textOf(v)).toBe(String(i).slice(-1))));
      }
      await Promise.all(work);
      await Promise.all(Array.from({ length: half }, (_, i) => backend.move(`old/${key(i)}`, `moved/${key(i)}`)));
      expect(await listNames(backend, "new")).toHaveLength(half);
      expect(await listNames(backend, "moved")).toHaveLength(half);
      // "old" was never made with mkdir: a backend may drop it with its last object.
      expect(await namesInNamespaceIfAny(backend, "old")).toEqual([]);
    });

    suite.test(`${n} stores into the same missing nesting directories at once`, async ({ backend }) => {
      const names = Array.from({ length: n }, (_, i) => `fresh/ab/cd/${key(i)}`);
      await Promise.all(names.map((name) => backend.store(name, bytesOf(name))));
      expect(await listNames(backend, "fresh/ab/cd")).toEqual(names.map((name) => name.slice(12)));
      await Promise.all(Array.from({ length: n }, () => backend.mkdir("fresh/ab")));
    });

    suite.test(`${n} concurrent stores to one name end with exactly one writer's whole value`, async ({ backend }) => {
      await overwriteRace(backend, n, 0, (name, value) => backend.store(name, value));
    });

    suite.test(`${Math.max(2, n / 4)} concurrent storeStreams to one name end with exactly one writer's whole value`, async ({ backend }) => {
      await overwriteRace(backend, Math.max(2, n / 4), 0, (name, value) => backend.storeStream(name, chunkedSource(value, 16 * 1024)));
    });

    suite.test("readers during concurrent stores to one name always see one whole value, never a gap or a mix", async ({ backend }) => {
      await overwriteRace(backend, n, Math.max(2, n / 4), (name, value) => backend.store(name, value));
      await overwriteRace(backend, Math.max(2, n / 4), 4, (name, value) =>
        backend.storeStream(name, chunkedSource(value, 16 * 1024)),
      );
    });

    suite.test(`${n} concurrent deletes of one name: at least one succeeds, the others report OBJECT_NOT_FOUND`, async ({ backend }) => {
      await backend.store("victim", bytesOf("value"));
      const codes = await settledCodes(Array.from({ length: n }, () => backend.delete("victim")));
      for (const code of codes) expect(["ok", "OBJECT_NOT_FOUND"]).toContain(code);
      expect(codes).toContain("ok");
      expect((await backend.info("victim")).exists).toBe(false);
    });

    suite.test("interleaved storeStreams of distinct names do not mix their bytes", async ({ backend }) => {
      const count = Math.max(2, Math.floor(n / 4));
      const values = Array.from({ length: count }, () => randomBytes(500_000));
      await Promise.all(values.map((value, i) => backend.storeStream(`s/${key(i)}`, chunkedSource(value, 8192))));
      const loaded = await Promise.all(values.map((_, i) => backend.loadStream(`s/${key(i)}`).then(collect)));
      for (const [i, value] of loaded.entries()) expectSameBytes(value, values[i] as Uint8Array, `s/${key(i)}`);
    });

    suite.test("concurrent partial loads, streams and hashes of one object agree", async ({ backend }) => {
      const value = randomBytes(1_000_000);
      await backend.store("shared", value);
      const work: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const offset = (i * 15_013) % 900_000;
        work.push(backend.load("shared", { offset, size: 50_000 }).then((v) => expectSameBytes(v, value.slice(offset, offset + 50_000))));
        if (i % 8 === 0) work.push(backend.loadStream("shared").then(collect).then((v) => expectSameBytes(v, value)));
        if (i % 8 === 4) work.push(backend.hash("shared", "sha256").then((h) => expect(h).toBe(sha256(value))));
      }
      await Promise.all(work);
    });
  });
}
