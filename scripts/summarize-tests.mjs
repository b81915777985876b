// Adds up the vitest JSON reports (packages/*/test-results.json) into one closing line:
// "tests: N passed, N failed, N skipped", plus a per-package breakdown and, for each failed test,
// its file, title and first lines of the failure: CI keeps only the tail of a log, so the summary
// must name what failed.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
const reports = readdirSync(join(root, "packages"))
  .sort()
  .map((pkg) => [pkg, join(root, "packages", pkg, "test-results.json")]);
reports.push(["(quickstart)", join(root, "test", "test-results.json")]);
for (const [pkg, file] of reports) {
  if (!existsSync(file)) continue;
  const r = JSON.parse(readFileSync(file, "utf8"));
  const p = r.numPassedTests ?? 0;
  const f = (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  passed += p;
  failed += f;
  skipped += s;
  console.log(`  ${pkg.padEnd(18)} ${p} passed, ${f} failed, ${s} skipped`);
  for (const suite of r.testResults ?? []) {
    const file = suite.name ? suite.name.slice(root.length + 1) : "?";
    const failedTests = (suite.assertionResults ?? []).filter((t) => t.status === "failed");
    for (const t of failedTests) failures.push({ file, title: t.fullName ?? t.title, messages: t.failureMessages ?? [] });
    if (suite.status === "failed" && failedTests.length === 0) failures.push({ file, title: "(the file itself)", messages: [suite.message ?? ""] });
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
for (const { file, title, messages } of failures) {
  console.log(`\nFAILED ${file} > ${title}`);
  const lines = messages.join("\n").split("\n").slice(0, 12);
  const text = lines.map((line) => (line.length > 300 ? `${line.slice(0, 300)}…` : line)).join("\n    ");
  if (text.trim()) console.log(`    ${text}`);
}
