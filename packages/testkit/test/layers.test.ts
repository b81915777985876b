import { MemoryBackend } from "@borgstore/core";
import { CacheLayer, CountingLayer, EmulationLayer } from "@borgstore/core/backend";
import { runConformanceSuite } from "../src/index.js";

// Each layer of core, alone over the memory backend, is a Backend like any other (the cache layer
// in mirror mode here, writethrough over posixfs). Smaller sizes, fewer writers in flight and
// shorter races than a storage backend's run: the layers add no storage of their own.
const quick = { maxValueSize: 1_000_000, streamValueSize: 1024 * 1024, raceMs: 200, concurrency: 16 };

runConformanceSuite({ name: "counting layer over memory", factory: () => new CountingLayer(new MemoryBackend()), ...quick });

runConformanceSuite({
  name: "emulation layer (200 µs, 1 Gbit/s) over memory",
  factory: () => new EmulationLayer(new MemoryBackend(), { latency: 200, bandwidth: 1e9 }),
  ...quick,
});

runConformanceSuite({
  name: "mirror cache layer over memory, cached in memory",
  factory: () => new CacheLayer(new MemoryBackend(), { cache: new MemoryBackend(), policies: [{ namespace: "", cache: "mirror" }] }),
  ...quick,
});
