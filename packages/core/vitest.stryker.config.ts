import { configDefaults, defineConfig } from "vitest/config";

// Used by `pnpm test:mutation` only: the tests import ../src directly.
export default defineConfig({
  test: { exclude: [...configDefaults.exclude, "**/.stryker-tmp/**"], testTimeout: 60_000, hookTimeout: 60_000 },
});
