import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { receiveWhole, verifiedSource } from "../src/backend-kit/index.js";
import { ContentHashMismatch, ContentLengthMismatch, collectBytes } from "../src/index.js";

const chunks = (...parts: string[]): Readable => Readable.from(parts.map((p) => Buffer.from(p)));
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("receiving a whole body", () => {
  it("reassembles chunks in order and checks the announced SHA-256", async () => {
    const value = await receiveWhole(chunks("hello ", "borg", "store"), 15, sha("hello borgstore"));
    expect(Buffer.from(value).toString()).toBe("hello borgstore");
    expect(Buffer.from(await receiveWhole(chunks("one"), 3, undefined)).toString()).toBe("one");
    expect((await receiveWhole(chunks(), 0, sha(""))).byteLength).toBe(0);
  });

  it("refuses a body shorter or longer than announced, and one whose hash differs", async () => {
    await expect(receiveWhole(chunks("hello ", "borg"), 15, undefined)).rejects.toBeInstanceOf(ContentLengthMismatch);
    await expect(receiveWhole(chunks("hello ", "borgstore!"), 15, undefined)).rejects.toBeInstanceOf(ContentLengthMismatch);
    await expect(receiveWhole(chunks("hello"), 5, sha("other"))).rejects.toBeInstanceOf(ContentHashMismatch);
  });

  it("refuses a body cut off by the client (the stream closes without ending)", async () => {
    const body = new Readable({ read() {} });
    const received = receiveWhole(body, 15, undefined);
    body.push(Buffer.from("hello "));
    setImmediate(() => body.destroy());
    await expect(received).rejects.toThrow("received 6 of the announced 15 bytes");
  });

  it("fills a given buffer and returns exactly the announced length of it", async () => {
    const into = Buffer.alloc(32, "x");
    const value = await receiveWhole(chunks("hello borgstore"), 15, sha("hello borgstore"), into);
    expect(value.byteLength).toBe(15);
    expect(value.buffer).toBe(into.buffer);
    expect(Buffer.from(value).toString()).toBe("hello borgstore");
  });

  it("fails a body with the same error and message as verifiedSource fails the same bytes", async () => {
    const cases: { parts: string[]; size: number; sha256?: string }[] = [
      { parts: ["hello ", "borg"], size: 15 },
      { parts: ["hello ", "borgstore!"], size: 15 },
      { parts: ["hello"], size: 5, sha256: sha("other") },
      { parts: ["hello", " borgstore"], size: 15, sha256: sha("hello borgstore") },
      { parts: [], size: 1 },
    ];
    const outcome = (promise: Promise<Uint8Array>) =>
      promise.then(
        (value) => `value ${Buffer.from(value).toString()}`,
        (err: Error) => `${err.constructor.name}: ${err.message}`,
      );
    for (const { parts, size, sha256 } of cases) {
      const streamed = await outcome(collectBytes(verifiedSource(chunks(...parts), { size, sha256 })));
      expect(await outcome(receiveWhole(chunks(...parts), size, sha256)), parts.join("|")).toBe(streamed);
    }
  });
});
