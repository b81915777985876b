import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Stryker's sandbox copies (.stryker-tmp/) hold copies of every test file: never run them here.
    exclude: [...configDefaults.exclude, "**/.stryker-tmp/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
