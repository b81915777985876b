// Checks every link of the built API docs site (docs-site/, `pnpm docs`), offline: linkinator serves
// the directory on loopback and follows each page's links and #fragments. Links to other sites are
// not fetched (CI must not depend on the network); typedoc's own validation covers {@link} tags,
// this covers the markdown pages and READMEs, including the heading anchors they point at.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { check } from "linkinator";

// The site's directory: docs-site/ unless given (the test checks small sites of its own).
const root = `${resolve(process.argv[2] ?? new URL("../docs-site/", import.meta.url).pathname)}/`;
if (!existsSync(`${root}index.html`)) {
  console.error(`no ${root}index.html: run pnpm docs first`);
  process.exit(2);
}
// linkinator's own server for the directory; every link elsewhere (another site, a loopback example
// in a doc comment such as http://127.0.0.1/) is left alone.
const port = await freePort();
const result = await check({
  path: root,
  port,
  recurse: true,
  checkFragments: true,
  linksToSkip: async (link) => !link.startsWith(`http://localhost:${port}/`),
});
const broken = result.links.filter((link) => link.state === "BROKEN");
for (const link of broken) console.error(`broken: ${link.url} (HTTP ${link.status}) on ${link.parent}`);
// linkinator checks a #fragment only when it meets the link before it crawls the target page, so
// every fragment is checked here again against the ids of the built pages.
const badFragments = missingFragments(root);
for (const { page, href } of badFragments) console.error(`broken: ${href} (no such anchor) on ${page}`);
console.log(`docs links: ${result.links.length} checked, ${broken.length + badFragments.length} broken`);
process.exit(broken.length + badFragments.length === 0 ? 0 : 1);

function missingFragments(dir) {
  const pages = readdirSync(dir, { recursive: true }).filter((f) => f.endsWith(".html")).map((f) => join(dir, f));
  const html = new Map(pages.map((page) => [page, readFileSync(page, "utf8")]));
  const ids = new Map([...html].map(([page, text]) => [page, new Set([...text.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]))]));
  const missing = [];
  for (const [page, text] of html)
    for (const [, href] of text.matchAll(/\bhref="([^"]*#[^"]+)"/g)) {
      if (/^[a-z][a-z0-9+.-]*:|^\/\//i.test(href)) continue;
      const [path, fragment] = href.split("#", 2);
      const target = path === "" ? page : resolve(dirname(page), decodeURI(path));
      const targetIds = ids.get(target);
      if (targetIds && !targetIds.has(decodeURIComponent(fragment))) missing.push({ page: relative(dir, page), href });
    }
  return missing;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
