// Lists the mutants the tests let live (Survived, NoCoverage) from a package's last
// `pnpm test:mutation` report: `node scripts/mutation/survivors.mjs core [file-fragment]`.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [pkg = "core", fragment = ""] = process.argv.slice(2);
const root = resolve(import.meta.dirname, "..", "..");
const report = JSON.parse(readFileSync(join(root, "packages", pkg, ".stryker", "report", "mutation.json"), "utf8"));
const counts = {};
for (const [file, { source, mutants }] of Object.entries(report.files)) {
  const lines = source.split("\n");
  for (const m of mutants) counts[m.status] = (counts[m.status] ?? 0) + 1;
  if (!file.includes(fragment)) continue;
  for (const m of mutants.filter((m) => m.status === "Survived" || m.status === "NoCoverage")) {
    const { line, column } = m.location.start;
    const original = lines[line - 1].trim().slice(0, 110);
    console.log(`${file}:${line}:${column} ${m.status} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? "").slice(0, 80)}\n    ${original}`);
  }
}
const killed = (counts.Killed ?? 0) + (counts.Timeout ?? 0);
const valid = killed + (counts.Survived ?? 0) + (counts.NoCoverage ?? 0);
console.log(`\n${pkg}: ${JSON.stringify(counts)}; score ${((100 * killed) / valid).toFixed(2)}% (killed+timeout / killed+timeout+survived+no coverage)`);
