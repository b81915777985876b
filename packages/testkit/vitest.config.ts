import { configDefaults, defineConfig } from "vitest/config";

// Many tests start real processes and servers: on a loaded 2-core machine that takes seconds, and
// vitest's 5 s default turns a slow start into a failure that says nothing about the code.
export default defineConfig({
  test: {
    // Stryker's sandbox copies (.stryker-tmp/) hold copies of every test file: never run them here.
    exclude: [...configDefaults.exclude, "**/.stryker-tmp/**"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
