import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runConformanceSuite } from "@borgstore/testkit";
import { RcloneBackend } from "../src/index.js";

const root = mkdtempSync(join(tmpdir(), "borgstore-rclone-conformance-"));
let n = 0;

runConformanceSuite({
  name: "rclone on a local directory",
  factory: () => new RcloneBackend({ remote: join(root, `store-${n++}`) }),
  cleanup: (backend) => rm((backend as RcloneBackend).remote, { recursive: true, force: true }),
});
