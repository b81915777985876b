import { describe } from "vitest";
import { Suite } from "./harness.js";
import { type ConformanceOptions, resolveOptions } from "./options.js";
import { registerAbortTests } from "./suites/abort.js";
import { registerConcurrencyTests } from "./suites/concurrency.js";
import { registerDefragTests } from "./suites/defrag.js";
import { registerErrorTests } from "./suites/errors.js";
import { registerFlatTests } from "./suites/flat.js";
import { registerHashTests } from "./suites/hash.js";
import { registerLifecycleTests } from "./suites/lifecycle.js";
import { registerListTests } from "./suites/list.js";
import { registerNamespacedTests } from "./suites/namespaced.js";
import { registerNameTests } from "./suites/names.js";
import { registerPartialLoadTests } from "./suites/partial-loads.js";
import { registerQuotaTests } from "./suites/quota.js";
import { registerReadRaceTests } from "./suites/read-races.js";
import { registerSizeTests } from "./suites/sizes.js";
import { registerStreamingTests } from "./suites/streaming.js";

export type { BackendFactory, ConformanceOptions, QuotaBackendFactory } from "./options.js";

/** The topics in the order they run: basics first, so the first failure is the simplest one. */
const TOPICS: ReadonlyArray<(suite: Suite) => void> = [
  registerLifecycleTests,
  registerFlatTests,
  registerNamespacedTests,
  registerNameTests,
  registerListTests,
  registerSizeTests,
  registerPartialLoadTests,
  registerStreamingTests,
  registerAbortTests,
  registerHashTests,
  registerDefragTests,
  registerErrorTests,
  registerConcurrencyTests,
  registerReadRaceTests,
  registerQuotaTests,
];

/**
 * Registers the conformance tests for one backend with vitest (describe/it), inside
 * `describe("<name> conformance")`. Call it at the top level of a test file.
 */
export function runConformanceSuite(options: ConformanceOptions): void {
  const suite = new Suite(resolveOptions(options));
  describe(`${options.name} conformance`, () => {
    for (const register of TOPICS) register(suite);
  });
}
