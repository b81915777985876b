import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireReferencePeer, runConformanceSuite } from "@borgstore/testkit";
import { afterAll, describe, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { REFERENCE_DEFECTS, REFERENCE_RACE_DEFECTS, expectAbortedUploadLeavesNothing, referenceOnPath } from "./helpers/reference.js";
import { TRANSPORT_INDEPENDENT } from "./helpers/stdio-skips.js";

// Our client, with default options, against the unmodified Python server over stdio: rest:///path
// runs `borgstore-server-rest --stdio` from PATH, here the reference's
// (`python3 -m borgstore.server.rest --stdio`). Under CI=true a missing reference fails the file.
const peer = requireReferencePeer("REST client against the Python reference server over stdio");
const root = mkdtempSync(join(tmpdir(), "borgstore-rest-reference-stdio-"));
const store = join(root, "store");

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

if (peer) {
  const env = referenceOnPath(peer, join(root, "bin"));
  const client = () => new RestBackend({ url: `rest:///${store}`, retryDelay: 50, env });

  runConformanceSuite({
    name: "rest over stdio to the Python reference server",
    factory: client,
    maxValueSize: 10_000_000,
    knownFailures: REFERENCE_DEFECTS,
    // Three server starts per test: the whole kit runs where the test command asks for it (CI).
    skip: { ...REFERENCE_RACE_DEFECTS, ...(process.env.BORGSTORE_TEST_REST_STDIO_FULL === "1" ? {} : TRANSPORT_INDEPENDENT) },
    cleanup: async () => {
      await rm(store, { recursive: true, force: true });
    },
  });

  describe("default options against the Python reference server over stdio", () => {
    it("a stream upload whose source breaks midway leaves no object (the reference stores whatever arrived)", async () => {
      const backend = client();
      await backend.create();
      await backend.open();
      try {
        await expectAbortedUploadLeavesNothing(backend);
      } finally {
        await backend.close();
        await backend.destroy();
      }
    }, 30_000);
  });
} else {
  describe.skip("REST client against the Python reference server over stdio (reference not found)", () => {
    it("skipped", () => {});
  });
}
