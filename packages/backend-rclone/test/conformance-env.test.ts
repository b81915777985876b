import { runConformanceSuite } from "@borgstore/testkit";
import { describe, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { envRemoteBase } from "./remotes.js";

// BORGSTORE_TEST_RCLONE_URL points the kit at any rclone remote (rclone:REMOTE:PATH); each test
// uses its own subdirectory. Optional: the local-directory and sftp suites always cover rclone.
const base = envRemoteBase();
let n = 0;

if (base) {
  runConformanceSuite({
    name: `rclone on ${base}`,
    factory: () => new RcloneBackend({ remote: `${base}rclone-kit-${process.pid}-${n++}` }),
    maxValueSize: Number(process.env.BORGSTORE_TEST_RCLONE_MAX_VALUE_SIZE ?? 10_000_000),
  });
} else {
  describe.skip("rclone on BORGSTORE_TEST_RCLONE_URL", () => it("set BORGSTORE_TEST_RCLONE_URL=rclone:REMOTE:PATH to run the kit on any remote", () => {}));
}
