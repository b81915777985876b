import { MemoryBackend } from "@borgstore/core";
import { runConformanceSuite } from "../src/index.js";
import { QuotaMemoryBackend } from "./fixtures/quota-memory-backend.js";

runConformanceSuite({
  name: "memory",
  factory: () => new MemoryBackend(),
  quotaFactory: (limit) => new QuotaMemoryBackend(limit),
});
