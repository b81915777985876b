// Adds up the vitest JSON reports (packages/*/test-results.json) into one closing line:
// "tests: N passed, N failed, N skipped", plus a per-package breakdown.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
let passed = 0;
let failed = 0;
let skipped = 0;
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
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
