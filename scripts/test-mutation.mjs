// `pnpm test:mutation [package...]`: Stryker mutation testing for the packages whose tests run
// fast enough in-process (default: core, backend-posixfs, server, backend-rest). Not part of
// `pnpm test`/CI. Incremental: each package keeps its last result in .stryker/incremental.json
// (gitignored), so a rerun only tests mutants in changed code or touched by changed tests.
// `node scripts/mutation/summary.mjs <pkg>` adds up the runs' reports per package.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const all = ["core", "backend-posixfs", "server", "backend-rest"];
// Arguments after `--` go to `stryker run`, e.g. `-- --mutate src/names.ts,src/range.ts` to test a
// few files first (the incremental cache keeps their results for a later wider run).
const dashes = process.argv.indexOf("--");
const strykerArgs = dashes === -1 ? [] : process.argv.slice(dashes + 1);
const names = dashes === -1 ? process.argv.slice(2) : process.argv.slice(2, dashes);
const wanted = names.map((name) => name.replace(/^@borgstore\//, ""));
const packages = wanted.length > 0 ? wanted : all;
const unknown = packages.filter((pkg) => !existsSync(join(root, "packages", pkg, "stryker.config.mjs")));
if (unknown.length > 0) {
  console.error(`no stryker.config.mjs for: ${unknown.join(", ")} (known: ${all.join(", ")})`);
  process.exit(2);
}
const build = spawnSync("pnpm", ["turbo", "run", "build", "--output-logs=errors-only", ...packages.map((p) => `--filter=@borgstore/${p}...`)], {
  cwd: root,
  stdio: "inherit",
});
if (build.status !== 0) process.exit(build.status ?? 1);
let status = 0;
for (const pkg of packages) {
  console.log(`\n=== mutation testing @borgstore/${pkg} ===`);
  const run = spawnSync("pnpm", ["exec", "stryker", "run", "stryker.config.mjs", ...strykerArgs], { cwd: join(root, "packages", pkg), stdio: "inherit" });
  if (run.status !== 0) status = run.status ?? 1;
  console.log(`report: packages/${pkg}/.stryker/report/mutation.html`);
  // A run narrowed by --mutate reports only its files: keep each run's report, so that
  // scripts/mutation/summary.mjs can add the chunks up to a whole-package figure.
  const report = join(root, "packages", pkg, ".stryker", "report", "mutation.json");
  if (run.status === 0 && existsSync(report)) {
    const saved = join(root, "packages", pkg, ".stryker", "reports");
    mkdirSync(saved, { recursive: true });
    copyFileSync(report, join(saved, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`));
  }
}
process.exit(status);
