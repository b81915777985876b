import { runConformanceSuite } from "@borgstore/testkit";
import { describe, it } from "vitest";
import { freshBackend, serverUrl } from "./server.js";

if (serverUrl) {
  runConformanceSuite({
    name: "s3 (radosgw)",
    factory: () => freshBackend(),
    skip: {
      // Same layout as the reference: keys and prefixes are independent in S3.
      "storing over a directory":
        "S3 keys and key prefixes are independent: an object and a namespace may share a name (as in the reference)",
      // Only mkdir writes a directory marker; a store into a missing namespace does not (one PUT per store, as the reference).
      "stores, loads, infos and deletes of distinct names in flight at once":
        "a namespace made implicitly by store (no mkdir, so no .dir marker) vanishes with its last object, as in the reference",
    },
  });
} else {
  describe.skip("s3 (radosgw) conformance", () => it("needs BORGSTORE_TEST_S3_URL"));
}
