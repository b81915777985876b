import { configDefaults, defineConfig } from "vitest/config";

// Used by `pnpm test:mutation` only (the tests import ../src). Left out: files that need servers
// from the environment (nginx, sshd), the Python reference, or start a process per test (stdio):
// every mutant would rerun them for minutes. The TCP conformance kit against our server stays.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    exclude: [
      ...configDefaults.exclude,
      "**/.stryker-tmp/**",
      "test/conformance-stdio.test.ts",
      "test/cross-implementation.test.ts",
      "test/nginx.test.ts",
      "test/reference-stdio.test.ts",
      "test/reference-tcp.test.ts",
      "test/ssh.test.ts",
    ],
  },
});
