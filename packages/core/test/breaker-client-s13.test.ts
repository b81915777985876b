/**
 * Breaker session 13 (REST client target): a core defect found while checking values stored
 * through the REST server. `it.fails` documents it: it fails today because of it.
 */
import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../src/index.js";

describe("MemoryBackend keeps values apart from its callers' buffers", () => {
  // FINDING: HIGH: MemoryBackend "copies" with value.slice(), which for a Node Buffer is a view: the caller reusing its buffer (the REST server's buffer pool does) rewrites the stored value; a loaded value is a view too
  // fixed: the memory backend copies into a plain Uint8Array (whose slice copies) on store.
  it("a stored Buffer reused by its caller, or a loaded value changed by its caller, leaves the stored value alone", async () => {
    const backend = new MemoryBackend();
    await backend.create();
    await backend.open();
    const buffer = Buffer.from("hello");
    await backend.store("x", buffer);
    buffer.fill("0");
    expect(Buffer.from(await backend.load("x")).toString()).toBe("hello");
    (await backend.load("x")).fill(0x31);
    expect(Buffer.from(await backend.load("x")).toString()).toBe("hello");
    await backend.close();
  });
});
