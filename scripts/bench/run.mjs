// `pnpm bench [NAME…] [--no-fail-targets]`: runs every packages/*/bench/*.bench.mjs (each exports a
// default async function (ctx) that calls ctx.report(row) per figure), prints one table and writes
// bench-results/*.json.
//
// It exits non-zero when a suite fails (throws, or reports nothing), when a suite could not run
// (it called ctx.missing(what): a server or peer it needs is absent), and when a row's target was
// MISSED (`met: false`, or "MISSED" in its target text) unless --no-fail-targets is given. Every
// suite that did not run or failed still gets a row in the table.
// BORGSTORE_BENCH_ROOT: the folder holding packages/ and bench-results/ (default: this checkout).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(process.env.BORGSTORE_BENCH_ROOT ?? join(import.meta.dirname, "../.."));
const args = process.argv.slice(2);
const failOnTargets = !args.includes("--no-fail-targets");
const unknown = args.filter((a) => a.startsWith("--") && a !== "--no-fail-targets");
if (unknown.length > 0) {
  console.error(`bench: unknown option ${unknown.join(", ")} (known: --no-fail-targets)`);
  process.exit(2);
}
const only = args.filter((a) => !a.startsWith("--"));

/** Thrown by ctx.missing: the suite cannot run here, which is a failure of the run, not a skip. */
class SuiteNotRun extends Error {}

const suites = [];
for (const pkg of readdirSync(join(root, "packages")).sort()) {
  const dir = join(root, "packages", pkg, "bench");
  if (!existsSync(dir)) continue;
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".bench.mjs"))
    .sort())
    if (only.length === 0 || only.some((o) => `${pkg}/${file}`.includes(o))) suites.push(join(dir, file));
}
if (suites.length === 0) {
  console.error(`bench: no suite matches ${only.join(" ")}`);
  process.exit(1);
}

const rows = [];
const fmt = (n) => (n === undefined || n === null ? "" : n >= 100 ? Math.round(n).toLocaleString("en") : n.toFixed(2));
/** The row's target as shown: its text, and whether it was met when the suite says so. */
const targetText = (r) => {
  if (r.target === undefined || r.target === "") return "";
  if (r.met === undefined || /\b(met|MISSED)\b/.test(r.target)) return r.target;
  return `${r.target}: ${r.met ? "met" : "MISSED"}`;
};
const missed = (r) => r.met === false || /\bMISSED\b/.test(r.target ?? "");

for (const suite of suites) {
  const name = suite.slice(join(root, "packages").length + 1);
  process.stderr.write(`bench: ${name}\n`);
  const before = rows.length;
  try {
    const mod = await import(pathToFileURL(suite).href);
    await mod.default({
      env: process.env,
      report(row) {
        const full = { suite: name, ...row };
        // A suite may give its own ratio (e.g. the median of paired measurements).
        if (full.ratio === undefined && full.reference && full.value !== undefined) full.ratio = full.value / full.reference;
        rows.push(full);
        const ratio = full.ratio ? ` (×${full.ratio.toFixed(2)} vs ${full.referenceLabel ?? "reference"})` : "";
        const target = targetText(full) ? ` [${targetText(full)}]` : "";
        process.stderr.write(`  ${full.case}: ${fmt(full.value)} ${full.unit}${ratio}${target}\n`);
      },
      missing(what) {
        throw new SuiteNotRun(`missing ${what}`);
      },
    });
    if (rows.length === before) rows.push({ suite: name, case: "suite reported nothing", status: "FAILED", error: "no figures" });
  } catch (err) {
    const notRun = err instanceof SuiteNotRun;
    process.stderr.write(`bench ${name} ${notRun ? "could not run" : "failed"}: ${notRun ? err.message : (err?.stack ?? err)}\n`);
    rows.push({ suite: name, case: notRun ? "not run" : "suite failed", status: notRun ? "NOT RUN" : "FAILED", error: String(err?.message ?? err) });
  }
}

const header = ["suite", "case", "value", "unit", "reference", "ratio", "target"];
const table = rows.map((r) => [
  r.suite,
  r.case,
  fmt(r.value),
  r.unit ?? "",
  fmt(r.reference),
  r.ratio ? `×${r.ratio.toFixed(2)}` : "",
  r.status ? `${r.status}: ${r.error}` : targetText(r),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => String(t[i]).length)));
const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join("  ");
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const t of table) console.log(line(t));

const results = { date: new Date().toISOString(), node: process.version, rows: rows.map((r) => ({ ...r, missed: missed(r) || undefined })) };
mkdirSync(join(root, "bench-results"), { recursive: true });
const file = join(root, "bench-results", `bench-${results.date.replace(/[:.]/g, "-")}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
writeFileSync(join(root, "bench-results", "latest.json"), JSON.stringify(results, null, 2));
console.log(`\nwritten: ${file}`);

const failed = rows.filter((r) => r.status === "FAILED");
const notRun = rows.filter((r) => r.status === "NOT RUN");
const targetsMissed = rows.filter(missed);
const problems = [
  failed.length > 0 ? `${failed.length} suite(s) failed: ${failed.map((r) => r.suite).join(", ")}` : "",
  notRun.length > 0 ? `${notRun.length} suite(s) not run: ${notRun.map((r) => `${r.suite} (${r.error})`).join(", ")}` : "",
  targetsMissed.length > 0
    ? `${targetsMissed.length} target(s) MISSED${failOnTargets ? "" : " (not failing: --no-fail-targets)"}: ${targetsMissed.map((r) => `${r.suite} ${r.case}`).join("; ")}`
    : "",
].filter(Boolean);
for (const p of problems) console.log(`bench: ${p}`);
if (failed.length > 0 || notRun.length > 0 || (failOnTargets && targetsMissed.length > 0)) process.exit(1);
