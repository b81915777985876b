import { strykerConfig } from "../../scripts/mutation/stryker-base.mjs";

// A chunk with its own test selection and incremental file (see vitest.stryker.atomic-file.config.ts):
// `pnpm exec stryker run stryker.atomic-file.config.mjs` in this directory.
const base = strykerConfig({ mutate: ["src/atomic-file.ts"] });
export default {
  ...base,
  vitest: { ...base.vitest, configFile: "vitest.stryker.atomic-file.config.ts" },
  incrementalFile: ".stryker/incremental-atomic-file.json",
  htmlReporter: { fileName: ".stryker/report-atomic-file/mutation.html" },
  jsonReporter: { fileName: ".stryker/report-atomic-file/mutation.json" },
};
