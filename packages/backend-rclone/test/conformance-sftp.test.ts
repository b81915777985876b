import { runConformanceSuite } from "@borgstore/testkit";
import { describe, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { sftpRemoteBase } from "./remotes.js";

const sftp = sftpRemoteBase();
let n = 0;

if (sftp) {
  runConformanceSuite({
    name: "rclone over its sftp remote to the test sshd",
    factory: () => new RcloneBackend({ remote: sftp.remote(`rclone-kit-${process.pid}-${n++}`) }),
    // Every byte goes through rclone, ssh and the sshd: 10 MB keeps the size tests in seconds.
    maxValueSize: 10_000_000,
    skip: {
      "readers during concurrent stores to one name":
        "rclone 1.60's sftp remote cannot rename over an existing file, so an overwrite is delete + rename: a reader's GET in between gets rclone's 404 'object not found' (measured), which the test does not allow",
      "read races":
        "rclone 1.60's sftp remote overwrites by delete + rename and cuts a reader's reply ('other side closed') when its file is replaced mid-read; under dense overwrites its own movefile fails 'Move NewObject failed: object not found' (seen in 3 of the read-race tests, 2026-12-06/07; the local remote runs them all)",
    },
  });
} else {
  describe.skip("rclone over its sftp remote to the test sshd", () => it("needs BORGSTORE_TEST_SSHD_HOST", () => {}));
}
