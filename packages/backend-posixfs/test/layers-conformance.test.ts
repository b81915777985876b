import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import type { Backend } from "@borgstore/core";
import { BackendLayer, CacheLayer, CountingLayer, EmulationLayer } from "@borgstore/core/backend";
import { runConformanceSuite } from "@borgstore/testkit";
import { afterAll } from "vitest";

// Each layer of core, alone over posixfs, is a Backend like any other. Smaller sizes, fewer
// writers in flight and shorter races than posixfs's own run: the layers add no storage.
const root = mkdtempSync(join(tmpdir(), "borgstore-posixfs-layers-"));
let n = 0;
afterAll(() => rm(root, { recursive: true, force: true }));
const quick = { maxValueSize: 100_000, streamValueSize: 1024 * 1024, raceMs: 200, concurrency: 16 };
const fresh = (quota?: number) => new PosixFsBackend(join(root, `s${n++}`), quota === undefined ? {} : { quota });

/** Every posixfs directory under a layer (a cache layer has two). */
function directories(backend: Backend): string[] {
  if (backend instanceof PosixFsBackend) return [backend.base];
  const below = backend instanceof BackendLayer ? directories(backend.inner) : [];
  const cache = backend instanceof CacheLayer && backend.cache ? directories(backend.cache) : [];
  return [...below, ...cache];
}
const cleanup = async (backend: Backend) => {
  for (const dir of directories(backend)) await rm(dir, { recursive: true, force: true });
};

runConformanceSuite({
  name: "counting layer over posixfs",
  factory: () => new CountingLayer(fresh()),
  quotaFactory: (limit) => new CountingLayer(fresh(limit)),
  cleanup,
  ...quick,
});

// Bandwidth only (the latency's sleeps are run over memory): posixfs's own run is the slow part.
runConformanceSuite({
  name: "emulation layer (1 Gbit/s) over posixfs",
  factory: () => new EmulationLayer(fresh(), { bandwidth: 1e9 }),
  cleanup,
  ...quick,
});

runConformanceSuite({
  name: "writethrough cache layer over posixfs, cached in posixfs",
  factory: () => new CacheLayer(fresh(), { cache: fresh() }),
  quotaFactory: (limit) => new CacheLayer(fresh(limit), { cache: fresh() }),
  cleanup,
  ...quick,
});
