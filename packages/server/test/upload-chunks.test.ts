import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { uploadChunks } from "../src/upload-chunks.js";

// uploadChunks over a real stream (a PassThrough standing in for the request): chunks in order,
// the 2 MiB bound on what waits, the ends a body can have, and no listener left behind.
const MiB = 1024 * 1024;
const turn = () => new Promise((resolve) => setImmediate(resolve));
/** uploadChunks' iterator, read by hand: the test decides when the next chunk is taken. */
const chunksOf = (body: PassThrough): AsyncIterator<Uint8Array> => uploadChunks(body)[Symbol.asyncIterator]();
const EVENTS = ["data", "end", "error", "close"] as const;
const listeners = (body: PassThrough) => EVENTS.map((event) => body.listenerCount(event));

describe("uploadChunks", () => {
  it("yields the chunks in order, the same objects, every chunk that waited, and ends with the body", async () => {
    const body = new PassThrough();
    const before = listeners(body);
    const chunks = chunksOf(body);
    const first = chunks.next();
    await turn();
    const a = Buffer.from("a");
    body.write(a);
    expect((await first).value).toBe(a);
    // Several chunks waiting at once, all handed on.
    const rest = [Buffer.from("b"), Buffer.from("cc"), Buffer.from("ddd"), Buffer.from("e")];
    for (const chunk of rest) body.write(chunk);
    await turn();
    for (const chunk of rest.slice(0, 2)) expect((await chunks.next()).value).toBe(chunk);
    body.write(Buffer.from("f"));
    await turn();
    body.end();
    const seen: string[] = [];
    for (;;) {
      const next = await chunks.next();
      if (next.done) break;
      seen.push(Buffer.from(next.value).toString());
    }
    expect(seen).toEqual(["ddd", "e", "f"]);
    expect(listeners(body)).toEqual(before);
  });

  it("pauses the body while more than 2 MiB wait, and resumes it once no more than 2 MiB do", async () => {
    const body = new PassThrough({ highWaterMark: 4 * MiB });
    const chunks = chunksOf(body);
    const first = chunks.next();
    await turn();
    body.write(Buffer.alloc(1));
    expect((await first).value?.byteLength).toBe(1);
    // Waiting: 1 byte, 1 MiB, 1 MiB - 1 (exactly 2 MiB), then 1 more byte.
    body.write(Buffer.alloc(1, 1));
    body.write(Buffer.alloc(MiB, 2));
    await turn();
    expect(body.isPaused()).toBe(false);
    body.write(Buffer.alloc(MiB - 1, 3));
    await turn();
    // Exactly 2 MiB waiting: not above the bound.
    expect(body.isPaused()).toBe(false);
    body.write(Buffer.alloc(1, 4));
    await turn();
    expect(body.isPaused()).toBe(true);
    // Taking the 1-byte chunk leaves exactly 2 MiB waiting: resumed.
    expect((await chunks.next()).value?.byteLength).toBe(1);
    expect(body.isPaused()).toBe(false);
    body.end();
    let total = 0;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) total += next.value.byteLength;
    expect(total).toBe(2 * MiB);
  });

  it("keeps the body paused while more than 2 MiB still wait after a chunk is taken", async () => {
    const body = new PassThrough({ highWaterMark: 4 * MiB });
    const chunks = chunksOf(body);
    const first = chunks.next();
    await turn();
    body.write(Buffer.alloc(1));
    await first;
    body.write(Buffer.alloc(1));
    body.write(Buffer.alloc(2 * MiB + 1));
    await turn();
    expect(body.isPaused()).toBe(true);
    expect((await chunks.next()).value?.byteLength).toBe(1);
    expect(body.isPaused()).toBe(true);
    expect((await chunks.next()).value?.byteLength).toBe(2 * MiB + 1);
    expect(body.isPaused()).toBe(false);
    body.end();
    expect((await chunks.next()).done).toBe(true);
  });

  it("ends with a body that ends without being destroyed after (autoDestroy off)", async () => {
    const body = new PassThrough({ autoDestroy: false });
    const chunks = chunksOf(body);
    const first = chunks.next();
    await turn();
    body.end(Buffer.from("last"));
    expect(Buffer.from((await first).value as Uint8Array).toString()).toBe("last");
    expect(await chunks.next()).toEqual({ done: true, value: undefined });
    expect(body.destroyed).toBe(false);
  });

  it("throws the body's error, after the chunks that came before it", async () => {
    const body = new PassThrough();
    const before = listeners(body);
    const chunks = chunksOf(body);
    const first = chunks.next();
    await turn();
    body.write(Buffer.from("x"));
    await first;
    body.write(Buffer.from("y"));
    await turn();
    const failure = new Error("first");
    body.emit("error", failure);
    expect(Buffer.from((await chunks.next()).value as Uint8Array).toString()).toBe("y");
    await expect(chunks.next()).rejects.toBe(failure);
    expect(listeners(body)).toEqual(before);
  });

  it("wakes on an error while it waits", async () => {
    const body = new PassThrough();
    const chunks = chunksOf(body);
    const waiting = chunks.next();
    await turn();
    const failure = new Error("reset");
    body.destroy(failure);
    await expect(waiting).rejects.toBe(failure);
  });

  it("just stops when the body closes before it ends", async () => {
    const body = new PassThrough();
    const before = listeners(body);
    const chunks = chunksOf(body);
    const waiting = chunks.next();
    await turn();
    body.destroy();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(listeners(body)).toEqual(before);
  });

  it("ends at once for a body that ended or was destroyed before it was read", async () => {
    const ended = new PassThrough({ autoDestroy: false });
    ended.end(Buffer.from("z"));
    ended.resume();
    await new Promise((resolve) => ended.once("end", resolve));
    expect([ended.readableEnded, ended.destroyed]).toEqual([true, false]);
    expect(await chunksOf(ended).next()).toEqual({ done: true, value: undefined });

    const destroyed = new PassThrough();
    destroyed.destroy();
    await new Promise((resolve) => destroyed.once("close", resolve));
    expect(await chunksOf(destroyed).next()).toEqual({ done: true, value: undefined });
  });
});
