import { defineConfig } from "vitest/config";

// Used by `pnpm test:mutation` only. Most server tests start the built CLI (dist/cli.js) as a child
// process, where no mutant of src/ can reach: only the files that load src/ in-process run here
// (see docs/mutation-testing.md for what that leaves uncovered).
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ["test/units.test.ts", "test/backend-host.test.ts", "test/auth.test.ts"],
  },
});
