// Scores a sampled run (scripts/mutation/sample.mjs): `node scripts/mutation/sample-score.mjs <pkg>
// [--measured detected/scored] [--killed-by-hand file:line:col:mutator,...]`. Each sampled mutant's
// status is its newest in <package>/.stryker/reports/ (matched by file, location, mutator and
// replacement); the other mutants those runs tested are not counted. Prints the counts per file, the
// sample's score with a Wilson 95 % interval, and, given the measured files' detected/scored, the
// package's estimate: measured part exact plus the unmeasured part's mutants scored at the sample's
// rates, with a 95 % percentile bootstrap interval (10 000 resamples of the sample, fixed seed).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { measured: { type: "string" }, draws: { type: "string" }, "killed-by-hand": { type: "string", default: "" } },
});
const pkg = (positionals[0] ?? "server").replace(/^@borgstore\//, "");
const dir = join(resolve(import.meta.dirname, "..", ".."), "packages", pkg);
// --draws N: only the first N draws (the batches run so far; any prefix is a uniform sample).
const drawn = JSON.parse(readFileSync(join(dir, ".stryker", "sample.json"), "utf8"));
const { population, perFile } = drawn;
const sample = drawn.sample.filter(({ draw }) => values.draws === undefined || draw < Number(values.draws));

// Reports give locations with lines and columns from 1; the sample's lines and columns count from 0.
const key = (file, start, mutatorName, replacement) => JSON.stringify([file, start.line, start.column, mutatorName, replacement]);
const status = new Map();
const saved = join(dir, ".stryker", "reports");
const reports = existsSync(saved) ? readdirSync(saved).filter((f) => f.endsWith(".json")).map((f) => join(saved, f)) : [];
for (const path of reports.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)) {
  const report = JSON.parse(readFileSync(path, "utf8"));
  for (const [name, { mutants }] of Object.entries(report.files)) {
    const file = relative(dir, resolve(dir, name));
    for (const m of mutants) {
      if (m.status === "Ignored" && /not in the sample/.test(m.statusReason ?? "")) continue;
      const start = { line: m.location.start.line - 1, column: m.location.start.column - 1 };
      status.set(key(file, start, m.mutatorName, m.replacement), m.status);
    }
  }
}
const byHand = new Set(values["killed-by-hand"].split(",").filter(Boolean));

const outcome = [];
const rows = {};
for (const m of sample) {
  let s = status.get(key(m.file, m.location.start, m.mutatorName, m.replacement)) ?? "NotRun";
  const name = `${m.file}:${m.location.start.line + 1}:${m.location.start.column + 1}:${m.mutatorName}`;
  if ((s === "Survived" || s === "NoCoverage") && byHand.has(name)) s = "KilledByHand";
  outcome.push(s);
  rows[m.file] ??= {};
  rows[m.file][s] = (rows[m.file][s] ?? 0) + 1;
  if (s === "Survived" || s === "NoCoverage" || s === "NotRun") console.log(`${s.padEnd(12)} ${name} #${m.draw} -> ${JSON.stringify(m.replacement.slice(0, 80))}`);
}
const detectedStates = new Set(["Killed", "Timeout", "KilledByHand"]);
const undetectedStates = new Set(["Survived", "NoCoverage"]);
const count = (list, states) => list.filter((s) => states.has(s)).length;
console.log(`\n${"file".padEnd(42)} popul. sampled  statuses`);
for (const [file, r] of Object.entries(rows)) console.log(`${file.padEnd(42)} ${String(perFile[file].population).padStart(6)} ${String(Object.values(r).reduce((a, b) => a + b, 0)).padStart(7)}  ${JSON.stringify(r)}`);
const tally = {};
for (const s of outcome) tally[s] = (tally[s] ?? 0) + 1;
const d = count(outcome, detectedStates);
const u = count(outcome, undetectedStates);
const n = d + u;
const z = 1.959964;
const p = d / n;
const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
console.log(`\nsample: ${sample.length} of ${population} mutants; ${JSON.stringify(tally)}`);
console.log(`sample score: ${(100 * p).toFixed(1)} % (${d} of ${n} scored), Wilson 95 %: ${(100 * (centre - half)).toFixed(1)}–${(100 * (centre + half)).toFixed(1)} %`);

if (values.measured) {
  const [measuredDetected, measuredScored] = values.measured.split("/").map(Number);
  const estimate = (list) => {
    const share = list.length / population;
    const detected = count(list, detectedStates) / share;
    const scored = (count(list, detectedStates) + count(list, undetectedStates)) / share;
    return (measuredDetected + detected) / (measuredScored + scored);
  };
  const ran = outcome.filter((s) => s !== "NotRun");
  let seed = 19;
  const random = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const boot = [];
  for (let r = 0; r < 10_000; r++) boot.push(estimate(ran.map(() => ran[Math.floor(random() * ran.length)])));
  boot.sort((a, b) => a - b);
  const scoredShare = (count(ran, detectedStates) + count(ran, undetectedStates)) / ran.length;
  console.log(
    `package: measured ${measuredDetected} of ${measuredScored} scored exact; unmeasured ${population} mutants, ~${Math.round(population * scoredShare)} scored at the sample's rates` +
      `\npackage estimate: ${(100 * estimate(ran)).toFixed(1)} % (95 % bootstrap: ${(100 * boot[249]).toFixed(1)}–${(100 * boot[9749]).toFixed(1)} %)`,
  );
}
