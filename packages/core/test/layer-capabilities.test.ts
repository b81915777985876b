import { describe, expect, it } from "vitest";
import { type BackendCapabilities, MemoryBackend } from "../src/index.js";
import { BackendLayer, CountingLayer } from "../src/backend-kit/index.js";

/** A memory backend that claims to gather small chunks into large writes (as posixfs does). */
class GatheringMemory extends MemoryBackend {
  override readonly capabilities: BackendCapabilities = { ...new MemoryBackend().capabilities, streaming: true, gathersChunks: true };
}

describe("a layer's capabilities", () => {
  it("are the inner backend's, but a layer never claims gathersChunks (its inner storeStream checks size and SHA-256 again)", () => {
    const inner = new GatheringMemory();
    for (const layer of [new BackendLayer(inner), new CountingLayer(new BackendLayer(inner))]) {
      expect(layer.capabilities).toEqual({ ...inner.capabilities, gathersChunks: false });
    }
    const plain = new MemoryBackend();
    expect(new BackendLayer(plain).capabilities).toBe(plain.capabilities);
  });
});
