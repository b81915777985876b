import { configDefaults, defineConfig } from "vitest/config";

// Used by `pnpm test:mutation` only: the test files that run the server in this process (helpers.ts
// startInProcess, or the units directly), where Stryker's mutants of src/ can reach it. Left out:
// files whose every test needs a separate process (the CLI's options and exit codes, stdio, crash and
// SIGKILL, heap tuning, memory measured by RSS) or a server from the environment (nginx, the Python
// reference); files listed here may still start a child for some of their tests. Also left out, for
// time: the tests that wait out rate windows and timeouts or run many clients on purpose (admission,
// slow-readers, fairness, read-races, disconnect, hostile, lifecycle, defrag: seconds each, paid
// again by every mutant of the request path). Add them back for a run with hours to spare.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    exclude: [...configDefaults.exclude, "**/.stryker-tmp/**"],
    include: [
      "test/units.test.ts",
      "test/protocol-text.test.ts",
      "test/auth-units.test.ts",
      "test/backend-host.test.ts",
      "test/connection-guard.test.ts",
      "test/kernel-send-queue.test.ts",
      "test/request-signal.test.ts",
      "test/connection-signal.test.ts",
      "test/error-status.test.ts",
      "test/upload-chunks.test.ts",
      "test/logger.test.ts",
      "test/reply.test.ts",
      "test/hosting-config.test.ts",
      "test/app-edges.test.ts",
      "test/auth.test.ts",
      "test/expect-continue.test.ts",
      "test/features-header.test.ts",
      "test/hostile-arguments.test.ts",
      "test/operations.test.ts",
      "test/operations-edges.test.ts",
      "test/quota-move.test.ts",
      "test/transcripts.test.ts",
    ],
  },
});
