// `pnpm bench`: runs every packages/*/bench/*.bench.mjs (each exports a default async function
// (ctx) that calls ctx.report(row) per figure), prints one table and writes bench-results/*.json.
import { mkdirSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "../..");
const only = process.argv.slice(2);
const suites = [];
for (const pkg of readdirSync(join(root, "packages"))) {
  const dir = join(root, "packages", pkg, "bench");
  if (!existsSync(dir)) continue;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".bench.mjs")).sort())
    if (only.length === 0 || only.some((o) => `${pkg}/${file}`.includes(o))) suites.push(join(dir, file));
}

const rows = [];
const fmt = (n) => (n === undefined || n === null ? "" : n >= 100 ? Math.round(n).toLocaleString("en") : n.toFixed(2));
for (const suite of suites) {
  const name = suite.slice(join(root, "packages").length + 1);
  process.stderr.write(`bench: ${name}\n`);
  const mod = await import(pathToFileURL(suite).href);
  try {
    await mod.default({
      env: process.env,
      report(row) {
        const full = { suite: name, ...row };
        // A suite may give its own ratio (e.g. the median of paired measurements).
        if (full.ratio === undefined && full.reference && full.value !== undefined) full.ratio = full.value / full.reference;
        rows.push(full);
        process.stderr.write(`  ${full.case}: ${fmt(full.value)} ${full.unit}${full.ratio ? ` (×${full.ratio.toFixed(2)} vs ${full.referenceLabel ?? "reference"})` : ""}\n`);
      },
    });
  } catch (err) {
    process.stderr.write(`bench ${name} failed: ${err?.stack ?? err}\n`);
    rows.push({ suite: name, case: "suite failed", error: String(err?.message ?? err) });
  }
}

const header = ["suite", "case", "value", "unit", "reference", "ratio", "target"];
const table = rows.map((r) => [r.suite, r.case, fmt(r.value), r.unit ?? "", fmt(r.reference), r.ratio ? `×${r.ratio.toFixed(2)}` : "", r.target ?? r.error ?? ""]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => String(t[i]).length)));
const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join("  ");
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const t of table) console.log(line(t));

mkdirSync(join(root, "bench-results"), { recursive: true });
const file = join(root, "bench-results", `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2));
writeFileSync(join(root, "bench-results", "latest.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2));
console.log(`\nwritten: ${file}`);
