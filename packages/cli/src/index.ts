export { buildProgram, splitUrl } from "./program.js";
export { BORG2_LAYOUT, resolveLayout, parseLevelsFlag } from "./layout.js";
export { EXIT_CODES, exitCodeFor } from "./exit-codes.js";
export { runBench, type BenchOptions, type BenchRow } from "./bench.js";
export { parseSize } from "@borgstore/core";
