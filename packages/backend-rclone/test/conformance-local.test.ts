import { rm } from "node:fs/promises";
import { join } from "node:path";
import { runConformanceSuite } from "@borgstore/testkit";
import { RcloneBackend } from "../src/index.js";
import { localRoot } from "./remotes.js";

const root = localRoot();
let n = 0;

// `:local:` is rclone's connection-string form of a local directory (no config file needed).
runConformanceSuite({
  name: "rclone on a local directory",
  factory: () => new RcloneBackend({ remote: `:local:${join(root, `store-${n++}`)}` }),
  cleanup: () => rm(join(root, `store-${n - 1}`), { recursive: true, force: true }),
});
