import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { runConformanceSuite } from "@borgstore/testkit";
import { afterAll } from "vitest";

const root = mkdtempSync(join(tmpdir(), "borgstore-posixfs-conformance-"));
let n = 0;
afterAll(() => rm(root, { recursive: true, force: true }));
const cleanup = (backend: unknown) => rm((backend as PosixFsBackend).base, { recursive: true, force: true });

runConformanceSuite({
  name: "posixfs",
  factory: () => new PosixFsBackend(join(root, `s${n++}`)),
  quotaFactory: (limit) => new PosixFsBackend(join(root, `s${n++}`), { quota: limit }),
  cleanup,
});

// The same suite with every read and write in the thread pool (the options for network filesystems).
runConformanceSuite({
  name: "posixfs (syncReads: false, syncWrites: false)",
  factory: () => new PosixFsBackend(join(root, `s${n++}`), { syncReads: false, syncWrites: false }),
  cleanup,
});
