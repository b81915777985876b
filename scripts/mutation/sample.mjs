// A uniform random sample of a package's mutants, for files too dear to run whole:
// `node scripts/mutation/sample.mjs <pkg> --seed 13 --size 200 [--skip src/a.ts,src/b.ts]`.
// The population is every mutant Stryker's instrumenter makes in the package's mutated files (its
// stryker.config.mjs) but the skipped ones (measured already), ordered by file, position, mutator and
// replacement; a Fisher–Yates shuffle driven by mulberry32(seed) picks the sample. It is written to
// <package>/.stryker/sample.json; `BORGSTORE_MUTATION_SAMPLE=.stryker/sample.json pnpm test:mutation <pkg>`
// then runs only those (stryker-base.mjs), and scripts/mutation/sample-score.mjs scores them.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { seed: { type: "string", default: "1" }, size: { type: "string", default: "200" }, skip: { type: "string", default: "" } },
});
const pkg = (positionals[0] ?? "server").replace(/^@borgstore\//, "");
const root = resolve(import.meta.dirname, "..", "..");
const dir = join(root, "packages", pkg);
const skipped = new Set(values.skip.split(",").filter(Boolean));

const { default: config } = await import(pathToFileURL(join(dir, "stryker.config.mjs")).href);
const excluded = new Set(config.mutate.filter((p) => p.startsWith("!")).map((p) => p.slice(1)));
const all = readdirSync(join(dir, "src"), { recursive: true })
  .map((f) => `src/${String(f)}`)
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !excluded.has(f))
  .sort();
const unknown = [...skipped].filter((f) => !all.includes(f));
if (unknown.length > 0) throw new Error(`not a mutated file: ${unknown.join(", ")}`);
const files = all.filter((f) => !skipped.has(f));

const requireFromCore = createRequire(createRequire(import.meta.url).resolve("@stryker-mutator/core"));
const { Instrumenter } = await import(pathToFileURL(requireFromCore.resolve("@stryker-mutator/instrumenter")).href);
const quiet = { debug() {}, info() {}, warn() {}, trace() {}, isDebugEnabled: () => false, isTraceEnabled: () => false };
const population = [];
for (const file of files) {
  const { mutants } = await new Instrumenter(quiet).instrument(
    [{ name: join(dir, file), content: readFileSync(join(dir, file), "utf8"), mutate: true }],
    { plugins: null, excludedMutations: [], ignorers: [] },
  );
  for (const { location, mutatorName, replacement } of mutants) population.push({ file, location, mutatorName, replacement });
}
const position = ({ start, end }) => [start.line, start.column, end.line, end.column];
const order = (a, b) => {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  const [pa, pb] = [position(a.location), position(b.location)];
  for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  if (a.mutatorName !== b.mutatorName) return a.mutatorName < b.mutatorName ? -1 : 1;
  return a.replacement < b.replacement ? -1 : a.replacement > b.replacement ? 1 : 0;
};
population.sort(order);

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(Number(values.seed));
const picked = population.map((_, i) => i);
for (let i = picked.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [picked[i], picked[j]] = [picked[j], picked[i]];
}
const size = Math.min(Number(values.size), population.length);
// `draw` is the place in the shuffle: any prefix of the draws is a uniform sample too, so a run can take
// them in batches (BORGSTORE_MUTATION_SAMPLE_DRAWS=0-99) and stop after any of them.
const sample = picked
  .slice(0, size)
  .map((i, draw) => ({ draw, ...population[i] }))
  .sort(order);

const perFile = {};
for (const { file } of population) perFile[file] = { population: (perFile[file]?.population ?? 0) + 1, sampled: 0 };
for (const { file } of sample) perFile[file].sampled++;
mkdirSync(join(dir, ".stryker"), { recursive: true });
writeFileSync(
  join(dir, ".stryker", "sample.json"),
  `${JSON.stringify({ seed: Number(values.seed), population: population.length, skipped: [...skipped], perFile, sample }, null, 1)}\n`,
);
for (const [file, { population: n, sampled }] of Object.entries(perFile)) console.log(`${file.padEnd(44)} ${String(n).padStart(5)} ${String(sampled).padStart(4)}`);
console.log(`${pkg}: ${size} of ${population.length} mutants in ${files.length} files (seed ${values.seed}) -> ${join("packages", pkg, ".stryker", "sample.json")}`);
