// Shared Stryker settings for `pnpm test:mutation` (scripts/test-mutation.mjs). Each package's
// stryker.config.mjs adds what it mutates. Not part of `pnpm test` or CI: a full run takes long;
// reruns are incremental (the cache under <package>/.stryker/ is gitignored).
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { mutateRange, sampledMutants } from "./sample-ignorer.mjs";

// Named by path: pnpm does not hoist the plugins where Stryker looks for them from a package dir.
const plugins = ["@stryker-mutator/vitest-runner", "@stryker-mutator/typescript-checker"].map((name) =>
  fileURLToPath(import.meta.resolve(name)),
);

// A sampled run (scripts/mutation/sample.mjs): only the sampled mutants' nodes are mutated.
const sample = sampledMutants();
const sampled = sample.length > 0 ? { mutate: sample.map(mutateRange), ignorers: ["sample-only"] } : {};

/** @param {{ mutate: string[] }} pkg */
export function strykerConfig({ mutate }) {
  return {
    packageManager: "pnpm",
    plugins: sample.length > 0 ? [...plugins, fileURLToPath(import.meta.resolve("./sample-ignorer.mjs"))] : plugins,
    testRunner: "vitest",
    // related: each mutant reruns only the test files that import its file (vitest related), of those
    // only the tests that covered it (perTest below).
    vitest: { configFile: "vitest.stryker.config.ts", related: true },
    // The type checker drops mutants that would not compile, at the cost of one of the (two)
    // processes: BORGSTORE_MUTATION_TYPECHECK=0 gives both to test runners (a survivor may then
    // be a mutant tsc would refuse; docs/mutation-testing.md).
    checkers: process.env.BORGSTORE_MUTATION_TYPECHECK === "0" ? [] : ["typescript"],
    tsconfigFile: "tsconfig.json",
    typescriptChecker: { prioritizePerformanceOverAccuracy: true },
    coverageAnalysis: "perTest",
    // Static mutants (module-level constants) would rerun every test for each: too dear here.
    ignoreStatic: true,
    mutate,
    // The machine is shared: two test processes at most (BORGSTORE_MUTATION_CONCURRENCY=1 for fewer).
    concurrency: Number(process.env.BORGSTORE_MUTATION_CONCURRENCY ?? Math.min(2, cpus().length)),
    timeoutMS: 10_000,
    incremental: true,
    incrementalFile: ".stryker/incremental.json",
    // Sandboxes in <package>/.stryker-tmp/ (Stryker rewrites tsconfig "extends" for that depth).
    cleanTempDir: "always",
    reporters: ["clear-text", "progress-append-only", "html", "json"],
    htmlReporter: { fileName: ".stryker/report/mutation.html" },
    jsonReporter: { fileName: ".stryker/report/mutation.json" },
    clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
    thresholds: { high: 80, low: 70, break: null },
    ...sampled,
  };
}
