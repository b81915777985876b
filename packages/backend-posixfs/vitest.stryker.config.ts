import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

// Used by `pnpm test:mutation` only. The tests import the package by name: here that is the
// mutated src/, not dist/. Left out: tests whose code under test runs in child processes from
// dist/ (they cannot see a mutant) or that read ../../../../shared, which a sandbox cannot reach;
// and the conformance kit: it covers nearly every line, so each mutant would rerun its ~300 tests
// (hours on two cores). The score here is that of the package's own tests. Also left out for time:
// the suites of core's layers over posixfs (layers-conformance: ~470 tests that reach nearly every
// primitive; cache-layer-races, cache-over-posixfs), small-temp-crash (10 s of SIGKILLed writers) and
// owner-lock-crash (6 s of them; owner-lock.test.ts checks the same sweep in-process).
export default defineConfig({
  resolve: { alias: { "@borgstore/backend-posixfs": fileURLToPath(new URL("./src/index.ts", import.meta.url)) } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    exclude: [
      ...configDefaults.exclude,
      "**/.stryker-tmp/**",
      "test/conformance.test.ts",
      "test/crash-loop.test.ts",
      "test/cross-implementation.test.ts",
      "test/kill-mid-write.test.ts",
      "test/quota-crash.test.ts",
      "test/reference-crash-compat.test.ts",
      "test/reference-fixture.test.ts",
      "test/layers-conformance.test.ts",
      "test/cache-layer-races.test.ts",
      "test/cache-over-posixfs.test.ts",
      "test/small-temp-crash.test.ts",
      "test/owner-lock-crash.test.ts",
    ],
  },
});
