import { runConformanceSuite } from "@borgstore/testkit";
import { describe, it } from "vitest";
import { freshBackend, serverUrl } from "./server.js";

if (serverUrl) {
  runConformanceSuite({
    name: "sftp (OpenSSH)",
    factory: () => freshBackend(),
    // Up to 10^8 bytes as the reference; measured below 2 s each way on a loopback sshd.
    maxValueSize: 100_000_000,
  });
} else {
  describe.skip("sftp (OpenSSH) conformance", () => it("needs BORGSTORE_TEST_SFTP_URL"));
}
