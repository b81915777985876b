import { join } from "node:path";
import { Store, backendFromUrl, registerBackend, unregisterBackend } from "@borgstore/core";
import { expectBigValuesRoundTripThroughStore } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { RcloneBackend, plugin } from "../src/index.js";
import { localRoot } from "./remotes.js";

const root = localRoot();

describe("RcloneBackend under a Store", () => {
  it("10 values of 1 MiB round-trip through a Store and list in order (reference: test_scalability_big_values_rclone)", async () => {
    await expectBigValuesRoundTripThroughStore(new RcloneBackend({ remote: join(root, "big") }));
  });

  describe("URL resolution", () => {
    registerBackend(plugin);
    afterAll(() => unregisterBackend("rclone", plugin));

    it("an rclone: URL resolves to an RcloneBackend on that remote, and a Store works on it", async () => {
      const backend = await backendFromUrl(`rclone::local:${join(root, "by-url")}`);
      expect(backend).toBeInstanceOf(RcloneBackend);
      expect((backend as RcloneBackend).remote).toBe(`:local:${join(root, "by-url")}/`);
      const store = new Store({ backend, config: { "data/": { levels: [1] } } });
      await store.create();
      await store.open();
      await store.store("data/0123abcd", new TextEncoder().encode("via URL"));
      expect(new TextDecoder().decode(await store.load("data/0123abcd"))).toBe("via URL");
      await store.close();
      await store.destroy();
    });
  });
});
