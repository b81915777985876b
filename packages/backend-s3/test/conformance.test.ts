import { runConformanceSuite } from "@borgstore/testkit";
import { describe, it } from "vitest";
import { freshBackend, serverUrl } from "./server.js";

if (serverUrl) {
  runConformanceSuite({ name: "s3 (radosgw)", factory: () => freshBackend() });
} else {
  describe.skip("s3 (radosgw) conformance", () => it("needs BORGSTORE_TEST_S3_URL"));
}
