import { MemoryBackend } from "@borgstore/core";
import { runConformanceSuite } from "@borgstore/testkit";

runConformanceSuite({ name: "memory", factory: () => new MemoryBackend() });
