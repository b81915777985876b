// The closing step of `pnpm test`: every skipped test in the vitest JSON reports
// (packages/*/test-results.json, test/test-results.json) must match an entry of the reviewed
// allowlist test/skip-allowlist.json ({ package, title, reason }: `title` is a fragment of the
// test's full name). Prints the allowlist with its reasons and what each entry matched; exits 1
// on a skip that no entry covers. Entries that match nothing in a package that ran are reported
// as stale (remove them) but do not fail, so branches that fix skips merge cleanly.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const allowlistFile = join(root, "test", "skip-allowlist.json");
const allowlist = JSON.parse(readFileSync(allowlistFile, "utf8"));
for (const entry of allowlist) {
  if (!entry.package || !entry.title || !entry.reason) throw new Error(`${allowlistFile}: entry without package, title or reason: ${JSON.stringify(entry)}`);
}

const reports = readdirSync(join(root, "packages"))
  .sort()
  .map((pkg) => [pkg, join(root, "packages", pkg, "test-results.json")]);
reports.push(["(quickstart)", join(root, "test", "test-results.json")]);

const ran = new Set();
const skipped = [];
for (const [pkg, file] of reports) {
  if (!existsSync(file)) continue;
  ran.add(pkg);
  const report = JSON.parse(readFileSync(file, "utf8"));
  for (const suite of report.testResults ?? []) {
    for (const test of suite.assertionResults ?? []) {
      if (test.status === "passed" || test.status === "failed") continue;
      skipped.push({ pkg, title: test.fullName, file: suite.name.replace(`${root}/`, "") });
    }
  }
}

const matches = new Map(allowlist.map((entry) => [entry, 0]));
const unlisted = [];
for (const skip of skipped) {
  const entry = allowlist.find((e) => e.package === skip.pkg && skip.title.includes(e.title));
  if (entry) matches.set(entry, matches.get(entry) + 1);
  else unlisted.push(skip);
}

console.log(`\nskipped tests allowed by test/skip-allowlist.json (${skipped.length - unlisted.length} skipped):`);
for (const [entry, count] of matches) {
  if (count === 0) continue;
  console.log(`  ${entry.package}: "${entry.title}" (${count})\n      why: ${entry.reason}`);
}
const stale = [...matches].filter(([entry, count]) => count === 0 && ran.has(entry.package)).map(([entry]) => entry);
if (stale.length > 0) {
  console.log("\nstale allowlist entries (no test skipped under them in this run; remove them if the skip is gone):");
  for (const entry of stale) console.log(`  ${entry.package}: "${entry.title}"`);
}
if (unlisted.length > 0) {
  console.log(`\nFAILED: ${unlisted.length} skipped test(s) not on test/skip-allowlist.json (run them, or add a reviewed entry with its reason):`);
  for (const skip of unlisted) console.log(`  ${skip.pkg} (${skip.file}): ${skip.title}`);
  process.exit(1);
}
console.log("no other skips.");
