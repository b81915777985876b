import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Stryker's sandbox copies (.stryker-tmp/) hold copies of every test file: never run them here.
    exclude: [...configDefaults.exclude, "**/.stryker-tmp/**"],
    // The suites mostly wait on rclone, ssh and the disk: run the local and sftp files side by side
    // even on two cores (vitest's default would use one worker there).
    maxWorkers: 3,
    testTimeout: 30_000,
  },
});
