import { configDefaults, defineConfig } from "vitest/config";

// Used by `pnpm test:mutation` only: the test files that run the server in this process (helpers.ts
// startInProcess, or the units directly), where Stryker's mutants of src/ can reach it. Left out:
// files whose every test needs a separate process (the CLI's options and exit codes, stdio, crash and
// SIGKILL, heap tuning, memory measured by RSS) or a server from the environment (nginx, the Python
// reference); files listed here may still start a child for some of their tests. Also left out, for
// time: the tests that wait out rate windows and timeouts or run many clients on purpose (admission,
// slow-readers, fairness, read-races, disconnect, hostile, lifecycle, defrag: seconds each, paid
// again by every mutant of the request path). Add them back for a run with hours to spare.
// Hosting (since session 12): the files that open a hosting server in-process (listenHosting) or test
// its modules directly; their tests that start the CLI as a child cover nothing here and so are run
// once, in the dry run. Left out: the ones that need S3 (radosgw), nginx, Prometheus or the Python
// reference, or children only (delete-grace-process, lifecycle, tls, breaker-s11-hosting), and
// bcrypt-threads (cost-11 hashes for seconds, a timing claim). Since session 13 also the in-process
// files written after that list (router, usage-layer, refused-request-line, upgrade-pipelined,
// stdio-refused, pipelined-closing: about 3 s together).
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
      "test/observability.test.ts",
      "test/observability-units.test.ts",
      "test/hosting-tenant-path.test.ts",
      "test/hosting-discovered-repositories.test.ts",
      "test/hosting-htpasswd.test.ts",
      "test/hosting-usage.test.ts",
      "test/hosting-quota.test.ts",
      "test/hosting-isolation.test.ts",
      "test/hosting-idle.test.ts",
      "test/hosting-delete-grace.test.ts",
      "test/hosting-delete-grace-min-charge.test.ts",
      "test/hosting-breaker-bg.test.ts",
      "test/hosting-breaker-bh.test.ts",
      "test/hosting-breaker-bu.test.ts",
      "test/hosting-server.test.ts",
      "test/hosting-observability.test.ts",
      "test/hosting-status-page.test.ts",
      "test/hosting-fair-share.test.ts",
      "test/hosting-fair-share-units.test.ts",
      "test/hosting-usage-units.test.ts",
      "test/hosting-alone-gate.test.ts",
      "test/hosting-store-layers.test.ts",
      "test/hosting-route-table.test.ts",
      "test/hosting-state-url.test.ts",
      "test/hosting-router.test.ts",
      "test/hosting-usage-layer.test.ts",
      "test/refused-request-line.test.ts",
      "test/upgrade-pipelined.test.ts",
      "test/stdio-refused.test.ts",
      "test/pipelined-closing.test.ts",
      "test/hosting-usage-source.test.ts",
      "test/hosting-kept-area.test.ts",
      "test/command-line-startup.test.ts",
      "test/hosting-delete-grace-config.test.ts",
      "test/hosting-usage-records.test.ts",
      "test/hosting-startup.test.ts",
    ],
  },
});
