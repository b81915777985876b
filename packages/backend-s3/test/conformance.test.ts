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
    },
  });
} else {
  describe.skip("s3 (radosgw) conformance", () => it("needs BORGSTORE_TEST_S3_URL"));
}
