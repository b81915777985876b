// A package's mutation score from every chunk measured so far: `node scripts/mutation/summary.mjs <pkg>`.
// A run narrowed with `--mutate` reports only its own files; scripts/test-mutation.mjs keeps a copy of
// each run's report in <package>/.stryker/reports/, and this takes each file's newest result from them
// (and from .stryker/report/mutation.json). Mutants of files never measured are counted with Stryker's
// own instrumenter, so the measured files' share of the package's mutants is known.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [pkg = "core"] = process.argv.slice(2);
const root = resolve(import.meta.dirname, "..", "..");
const dir = join(root, "packages", pkg.replace(/^@borgstore\//, ""));

const { default: config } = await import(pathToFileURL(join(dir, "stryker.config.mjs")).href);
const excluded = new Set(config.mutate.filter((p) => p.startsWith("!")).map((p) => p.slice(1)));
const files = readdirSync(join(dir, "src"), { recursive: true })
  .map((f) => `src/${String(f)}`)
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !excluded.has(f))
  .sort();

// Stryker's instrumenter, from where @stryker-mutator/core finds it (pnpm does not hoist it).
const requireFromCore = createRequire(createRequire(import.meta.url).resolve("@stryker-mutator/core"));
const { Instrumenter } = await import(pathToFileURL(requireFromCore.resolve("@stryker-mutator/instrumenter")).href);
const quiet = { debug() {}, info() {}, warn() {}, trace() {}, isDebugEnabled: () => false, isTraceEnabled: () => false };
const instrumenter = new Instrumenter(quiet);
const instrumented = {};
for (const file of files) {
  const name = join(dir, file);
  const { mutants } = await instrumenter.instrument([{ name, content: readFileSync(name, "utf8"), mutate: true }], {
    plugins: null,
    excludedMutations: [],
    ignorers: [],
  });
  instrumented[file] = mutants.length;
}

// Newest report per file.
const reports = [];
const saved = join(dir, ".stryker", "reports");
if (existsSync(saved)) for (const f of readdirSync(saved)) if (f.endsWith(".json")) reports.push(join(saved, f));
const last = join(dir, ".stryker", "report", "mutation.json");
if (existsSync(last)) reports.push(last);
const results = {};
for (const path of reports.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)) {
  const report = JSON.parse(readFileSync(path, "utf8"));
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const counts = {};
    for (const m of mutants) counts[m.status] = (counts[m.status] ?? 0) + 1;
    results[relative(dir, resolve(dir, file))] = { counts, from: relative(dir, path) };
  }
}

const sum = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0, other: 0 };
let measuredMutants = 0;
let totalMutants = 0;
const rows = [];
for (const file of files) {
  totalMutants += instrumented[file];
  const result = results[file];
  if (!result) {
    rows.push(`${file.padEnd(36)} ${String(instrumented[file]).padStart(5)}  not measured`);
    continue;
  }
  measuredMutants += instrumented[file];
  const c = result.counts;
  for (const [status, n] of Object.entries(c)) sum[status in sum ? status : "other"] += n;
  const detected = (c.Killed ?? 0) + (c.Timeout ?? 0);
  const valid = detected + (c.Survived ?? 0) + (c.NoCoverage ?? 0);
  const score = valid === 0 ? "  n/a" : ((100 * detected) / valid).toFixed(2).padStart(6);
  rows.push(
    `${file.padEnd(36)} ${String(instrumented[file]).padStart(5)} ${score}%  killed ${c.Killed ?? 0} timeout ${c.Timeout ?? 0} survived ${c.Survived ?? 0} no-coverage ${c.NoCoverage ?? 0} ignored ${c.Ignored ?? 0}`,
  );
}
console.log(`${"file".padEnd(36)} mutants  score`);
for (const row of rows) console.log(row);
const detected = sum.Killed + sum.Timeout;
const valid = detected + sum.Survived + sum.NoCoverage;
console.log(
  `\n${pkg}: measured files hold ${measuredMutants} of ${totalMutants} mutants (${((100 * measuredMutants) / totalMutants).toFixed(1)}%); ` +
    `over them: killed ${sum.Killed}, timeout ${sum.Timeout}, survived ${sum.Survived}, no coverage ${sum.NoCoverage}, ignored (static) ${sum.Ignored}; ` +
    `score ${valid === 0 ? "n/a" : ((100 * detected) / valid).toFixed(2)}%`,
);
