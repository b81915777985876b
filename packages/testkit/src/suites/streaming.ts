import { Readable } from "node:stream";
import type { Backend, ByteSource } from "@borgstore/core";
import { expect } from "vitest";
import { expectCode, expectSameBytes } from "../assertions.js";
import type { Suite } from "../harness.js";
import { bytesOf, chunkedSource, collect, failingSource, listNames, randomBytes, sha256, textOf } from "../helpers.js";
import { namesInEmptyNamespace, namesInNamespaceIfAny } from "./namespaced.js";
import { SMALL_RANGES, TAIL_RANGES, expectedRange } from "./partial-loads.js";

/** Chunks of uneven sizes, with empty ones in between, to catch off-by-one joins. */
async function* unevenSource(data: Uint8Array): ByteSource {
  let at = 0;
  for (let i = 0; at < data.byteLength; i++) {
    const size = [1, 0, 7, 4096, 65_537, 0, 300_001][i % 7] as number;
    yield data.subarray(at, Math.min(at + size, data.byteLength));
    at += size;
  }
}

/** True when `err` or an error in its `cause` chain carries `message`. */
function carries(err: unknown, message: string): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++)
    if (e.message.includes(message)) return true;
  return false;
}

/** Nothing under `name` became visible: no object, and no entry (not even a temp one) in the listing. */
async function expectNothingAt(backend: Backend, name: string): Promise<void> {
  expect((await backend.info(name)).exists, `${name} must not exist`).toBe(false);
  expect(await listNames(backend, "")).toEqual([]);
}

/** A source that delivers `head`, then waits until `release()` before delivering `tail`. */
function pausedSource(head: Uint8Array, tail: Uint8Array): { source: ByteSource; paused: Promise<void>; release: () => void } {
  let release = () => {};
  let markPaused = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const paused = new Promise<void>((resolve) => (markPaused = resolve));
  async function* source(): ByteSource {
    yield head;
    markPaused();
    await gate;
    yield tail;
  }
  return { source: source(), paused, release };
}

/**
 * How long reads may take while a store is paused. Generous: only a backend that runs one
 * operation at a time misses it, and that is a failure (a paused upload must not block readers).
 */
const OBSERVE_MS = 15_000;

export function registerStreamingTests(suite: Suite): void {
  const size = suite.options.streamValueSize;

  suite.topic("streaming", () => {
    suite.test(`loadStream delivers a ${size}-byte value in chunks of bytes`, async ({ backend }) => {
      const value = randomBytes(size);
      await backend.store("key", value);
      const chunks: Uint8Array[] = [];
      for await (const chunk of await backend.loadStream("key")) {
        expect(chunk).toBeInstanceOf(Uint8Array);
        chunks.push(chunk);
      }
      expectSameBytes(Buffer.concat(chunks), value);
    });

    suite.test("loadStream honours offset and size like load", async ({ backend }) => {
      await backend.store("small", bytesOf("0123456789"));
      for (const [options, expected] of SMALL_RANGES)
        expect(textOf(await collect(await backend.loadStream("small", options))), JSON.stringify(options)).toBe(expected);
      const value = randomBytes(5000);
      await backend.store("tail", value);
      for (const options of TAIL_RANGES)
        expectSameBytes(await collect(await backend.loadStream("tail", options)), expectedRange(value, options), JSON.stringify(options));
    });

    suite.test("loadStream of a missing object rejects with OBJECT_NOT_FOUND before any chunk", async ({ backend }) => {
      await expectCode(backend.loadStream("missing"), "OBJECT_NOT_FOUND");
      await expectCode(backend.loadStream("ns/missing", { offset: -3 }), "OBJECT_NOT_FOUND");
    });

    suite.test("loadStream of an empty value delivers no bytes", async ({ backend }) => {
      await backend.store("empty", new Uint8Array(0));
      expect((await collect(await backend.loadStream("empty"))).byteLength).toBe(0);
    });

    suite.test("abandoning a loadStream early leaves the backend and the object usable", async ({ backend }) => {
      const value = randomBytes(size);
      await backend.store("key", value);
      for (let i = 0; i < 3; i++) {
        for await (const chunk of await backend.loadStream("key")) {
          expect(chunk.byteLength).toBeGreaterThan(0);
          break;
        }
      }
      await backend.store("key", bytesOf("replaced"));
      expect(textOf(await backend.load("key"))).toBe("replaced");
      await backend.delete("key");
      expect(await listNames(backend, "")).toEqual([]);
    });

    suite.test(`storeStream of a ${size}-byte value in 64 KiB chunks, with size and sha256`, async ({ backend }) => {
      const value = randomBytes(size);
      await backend.storeStream("key", chunkedSource(value), { size, sha256: sha256(value) });
      expect((await backend.info("key")).size).toBe(size);
      expectSameBytes(await backend.load("key"), value);
    });

    suite.test("an object is invisible while its storeStream is under way, and whole afterwards", async ({ backend, caps }) => {
      await backend.mkdir("data");
      const value = randomBytes(300_000);
      const { source, paused, release } = pausedSource(value.subarray(0, 100_000), value.subarray(100_000));
      const storing = backend.storeStream("data/key", source);
      storing.catch(() => {}); // awaited below; avoid an unhandled rejection while observing
      await paused;
      const observing = Promise.all([
        backend.info("data/key"),
        namesInEmptyNamespace(backend, caps, "data"),
        backend.load("data/key").then(
          () => "loaded",
          (err: { code?: string }) => err.code,
        ),
      ]);
      const first = await Promise.race([observing, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), OBSERVE_MS))]);
      release();
      await storing;
      await observing;
      if (first === "timeout") {
        throw new Error(`info, list and load did not answer within ${OBSERVE_MS} ms while a storeStream was paused: the backend runs one operation at a time`);
      }
      const [info, names, load] = first as [Awaited<ReturnType<Backend["info"]>>, string[], string | undefined];
      expect(info.exists, "info during the store").toBe(false);
      expect(names, "list during the store (no temporary names either)").toEqual([]);
      expect(load, "load during the store").toBe("OBJECT_NOT_FOUND");
      expectSameBytes(await backend.load("data/key"), value);
      expect(await listNames(backend, "data")).toEqual(["key"]);
    });

    suite.test("storeStream joins uneven and empty chunks exactly", async ({ backend }) => {
      const value = randomBytes(1_000_003);
      await backend.storeStream("data/key", unevenSource(value));
      expectSameBytes(await backend.load("data/key"), value);
    });

    suite.test("storeStream keeps no chunk once it settles: scribbling over them afterwards leaves the stored value as it was", async ({ backend }) => {
      const value = randomBytes(600_000);
      const handedOver: Uint8Array[] = [];
      async function* copies(): ByteSource {
        for (let at = 0; at < value.byteLength; at += 65_536) {
          const chunk = value.slice(at, at + 65_536);
          handedOver.push(chunk);
          yield chunk;
        }
      }
      await backend.storeStream("data/key", copies(), { size: value.byteLength });
      for (const chunk of handedOver) chunk.fill(0xff);
      // A write still queued after the call settled would now write the scribbled bytes.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expectSameBytes(await backend.load("data/key"), value);
    });

    suite.test("storeStream accepts a Node Readable and a web ReadableStream", async ({ backend }) => {
      const value = randomBytes(300_000);
      await backend.storeStream("node", Readable.from([value.subarray(0, 1000), value.subarray(1000)]));
      expectSameBytes(await backend.load("node"), value, "Readable");
      const web = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(value.subarray(0, 5));
          controller.enqueue(value.subarray(5));
          controller.close();
        },
      });
      await backend.storeStream("web", web as unknown as ByteSource);
      expectSameBytes(await backend.load("web"), value, "ReadableStream");
    });

    suite.test("storeStream of an empty source stores an empty value", async ({ backend }) => {
      await backend.storeStream("empty", chunkedSource(new Uint8Array(0)), { size: 0 });
      expect(await backend.info("empty")).toMatchObject({ exists: true, size: 0 });
    });

    suite.test("storeStream creates missing nesting directories and overwrites", async ({ backend }) => {
      await backend.storeStream("ns/ab/cd/key", chunkedSource(bytesOf("first value")));
      await backend.storeStream("ns/ab/cd/key", chunkedSource(bytesOf("second")));
      expect(textOf(await backend.load("ns/ab/cd/key"))).toBe("second");
      expect(await listNames(backend, "ns/ab/cd")).toEqual(["key"]);
    });

    for (const [what, delta] of [
      ["fewer", -1],
      ["more", 1],
    ] as const) {
      suite.test(`storeStream with ${what} bytes than its size fails with CONTENT_LENGTH_MISMATCH and stores nothing`, async ({ backend }) => {
        const value = randomBytes(200_000);
        await expectCode(
          backend.storeStream("key", chunkedSource(value), { size: value.byteLength - delta }),
          "CONTENT_LENGTH_MISMATCH",
        );
        await expectNothingAt(backend, "key");
      });
    }

    suite.test("storeStream with a wrong sha256 fails with CONTENT_HASH_MISMATCH and stores nothing", async ({ backend }) => {
      const value = randomBytes(200_000);
      await expectCode(
        backend.storeStream("key", chunkedSource(value), { sha256: sha256(bytesOf("something else")) }),
        "CONTENT_HASH_MISMATCH",
      );
      await expectNothingAt(backend, "key");
    });

    suite.test("a failed storeStream over an existing object leaves the old value intact", async ({ backend }) => {
      const old = randomBytes(100_000);
      await backend.store("key", old);
      const value = randomBytes(200_000);
      await expectCode(backend.storeStream("key", chunkedSource(value), { size: 5 }), "CONTENT_LENGTH_MISMATCH");
      expectSameBytes(await backend.load("key"), old, "after a size mismatch");
      await expectCode(backend.storeStream("key", chunkedSource(value), { sha256: sha256(old) }), "CONTENT_HASH_MISMATCH");
      expectSameBytes(await backend.load("key"), old, "after a hash mismatch");
      await expect(backend.storeStream("key", failingSource(value, new Error("source broke")))).rejects.toThrow();
      expectSameBytes(await backend.load("key"), old, "after a failing source");
      expect(await listNames(backend, "")).toEqual(["key"]);
    });

    suite.test("a source that throws midway fails the store with its error and leaves nothing visible", async ({ backend }) => {
      const err = await backend
        .storeStream("data/key", failingSource(randomBytes(300_000), new Error("source broke midway")))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err, "storeStream must reject").toBeInstanceOf(Error);
      expect(carries(err, "source broke midway"), `the source's error (or a cause) must surface, got: ${String(err)}`).toBe(true);
      expect((await backend.info("data/key")).exists).toBe(false);
      expect(await namesInNamespaceIfAny(backend, "data")).toEqual([]);
    });

    suite.test("storeStream with a negative or fractional size fails with INVALID_ARGUMENT", async ({ backend }) => {
      for (const bad of [-1, 1.5])
        await expectCode(backend.storeStream("key", chunkedSource(bytesOf("x")), { size: bad }), "INVALID_ARGUMENT");
      await expectNothingAt(backend, "key");
    });
  });
}
