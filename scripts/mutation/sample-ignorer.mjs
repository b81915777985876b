// Stryker ignorer plugin for a sampled run (scripts/mutation/sample.mjs): `--mutate` ranges take every
// mutant inside them, so a sampled mutant's range would also bring the mutants of the nodes nested in
// it. This ignores those nested nodes, unless they hold a sampled mutant themselves. (Other mutants of
// the sampled node itself still run; sample-score.mjs counts only the sampled ones.)
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** The sampled mutants this run takes: BORGSTORE_MUTATION_SAMPLE's, those of BORGSTORE_MUTATION_SAMPLE_DRAWS ("first-last") if set. */
export function sampledMutants() {
  const samplePath = process.env.BORGSTORE_MUTATION_SAMPLE;
  if (!samplePath) return [];
  const [first = 0, last = Infinity] = (process.env.BORGSTORE_MUTATION_SAMPLE_DRAWS ?? "").split("-").filter(Boolean).map(Number);
  return JSON.parse(readFileSync(resolve(samplePath), "utf8")).sample.filter(({ draw }) => draw >= first && draw <= last);
}

/** A `--mutate` range of exactly the mutant's node (lines from 1, columns from 0). */
export const mutateRange = ({ file, location: { start, end } }) => `${file}:${start.line + 1}:${start.column}-${end.line + 1}:${end.column}`;

const sample = sampledMutants();
// Babel counts lines from 1, Stryker's locations from 0.
const byFile = new Map();
for (const { file, location } of sample) {
  const loc = { start: { line: location.start.line + 1, column: location.start.column }, end: { line: location.end.line + 1, column: location.end.column } };
  byFile.set(file, [...(byFile.get(file) ?? []), loc]);
}

const before = (a, b) => a.line < b.line || (a.line === b.line && a.column <= b.column);
const inside = (outer, inner) => before(outer.start, inner.start) && before(inner.end, outer.end);
const same = (a, b) => inside(a, b) && inside(b, a);

function sampledIn(path) {
  const filename = path.hub?.file?.opts?.filename ?? "";
  for (const [file, locs] of byFile) if (filename.endsWith(`/${file}`) || filename === file) return locs;
  return [];
}

export const sampleOnly = {
  shouldIgnore(path) {
    const loc = path.node.loc;
    if (!loc) return undefined;
    const locs = sampledIn(path);
    if (!locs.some((l) => inside(l, loc))) return undefined;
    if (locs.some((l) => same(l, loc) || inside(loc, l))) return undefined;
    return "not in the sample (nested in a sampled mutant's node)";
  },
};

export const strykerPlugins = [{ kind: "Ignore", name: "sample-only", value: sampleOnly }];
