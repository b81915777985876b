import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { runConformanceSuite } from "@borgstore/testkit";

const root = mkdtempSync(join(tmpdir(), "borgstore-posixfs-conformance-"));
let n = 0;

runConformanceSuite({
  name: "posixfs",
  factory: () => new PosixFsBackend({ path: join(root, `store-${n++}`) }),
  cleanup: (backend) => rm((backend as PosixFsBackend).base, { recursive: true, force: true }),
});
