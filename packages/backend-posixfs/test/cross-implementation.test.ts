import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { Store } from "@borgstore/core";
import { describeCrossImplementation } from "@borgstore/testkit";
import { expect } from "vitest";
import { tempDir } from "./helpers.js";

const QUOTA = 100 * 1024 * 1024;

// Both sides keep quota.hid: each must open the other's file and agree on the usage it holds.
describeCrossImplementation({
  name: "posixfs with a quota",
  quota: QUOTA,
  location: () => {
    const path = join(tempDir(), "store");
    return {
      referenceUrl: `file://${path}`,
      ourStore: (plan) => new Store({ backend: new PosixFsBackend({ path, quota: plan.quota }), config: plan.config }),
      async inspect(manifest) {
        expect(await readFile(join(path, "quota.hid"), "latin1")).toBe(String(manifest.quota?.usage));
      },
    };
  },
});

describeCrossImplementation({
  name: "posixfs without a quota",
  location: () => {
    const path = join(tempDir(), "store");
    return {
      referenceUrl: `file://${path}`,
      ourStore: (plan) => new Store({ backend: new PosixFsBackend({ path }), config: plan.config }),
    };
  },
});
