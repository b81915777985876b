import { MemoryBackend } from "@borgstore/core";
import { runConformanceSuite } from "../src/index.js";

runConformanceSuite({ name: "memory", factory: () => new MemoryBackend() });
