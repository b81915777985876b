// Checks that every `docs/NAME.md#anchor` a source comment cites (packages/*/src) names a heading of
// that page. The ids are GitHub's slugs of the headings, which are also typedoc's for headings
// without code spans (the docs' headings have none). Run by `pnpm run docs`; the test runs it on a
// small tree of its own (the repository root is the first argument, this one's by default).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(process.argv[2] ?? new URL("..", import.meta.url).pathname);
const CITATION = /\bdocs\/([a-z0-9-]+\.md)(?:#([a-z0-9-]+))?/g;

const slug = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, "")
    .replace(/ /g, "-");

function anchors(page) {
  const text = readFileSync(page, "utf8").replace(/^```[\s\S]*?^```/gm, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

const problems = [];
let citations = 0;
const pages = new Map();
for (const pkg of readdirSync(join(root, "packages"))) {
  const src = join(root, "packages", pkg, "src");
  if (!existsSync(src)) continue;
  for (const file of readdirSync(src, { recursive: true })) {
    if (!/\.(ts|mts|js|mjs)$/.test(file)) continue;
    const path = join(src, file);
    const lines = readFileSync(path, "utf8").split("\n");
    for (const [index, line] of lines.entries())
      for (const [citation, name, anchor] of line.matchAll(CITATION)) {
        citations++;
        const page = join(root, "docs", name);
        if (!pages.has(page)) pages.set(page, existsSync(page) ? anchors(page) : undefined);
        const ids = pages.get(page);
        const where = `${relative(root, path)}:${index + 1}`;
        if (ids === undefined) problems.push(`${where}: ${citation}: no such page`);
        else if (anchor !== undefined && !ids.has(anchor)) problems.push(`${where}: ${citation}: no such section`);
      }
  }
}
for (const problem of problems) console.error(`broken: ${problem}`);
console.log(`doc references in sources: ${citations} checked, ${problems.length} broken`);
process.exit(problems.length === 0 ? 0 : 1);
