import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// scripts/check-docs-links.mjs, which `pnpm run docs` runs on the built API docs, against small sites
// of known links: it must fail on a missing page and on a missing anchor, and pass a sound site.

const CHECKER = resolve(import.meta.dirname, "../scripts/check-docs-links.mjs");
const work = mkdtempSync(join(tmpdir(), "borgstore-docs-links-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function site(name: string, pages: Record<string, string>): string {
  const dir = join(work, name);
  for (const [path, body] of Object.entries(pages)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), `<!doctype html><html><body>${body}</body></html>`);
  }
  return dir;
}

function runChecker(dir: string): { status: number; output: string } {
  try {
    return { status: 0, output: execFileSync(process.execPath, [CHECKER, dir], { encoding: "utf8", stdio: "pipe" }) };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { status: e.status, output: e.stdout + e.stderr };
  }
}

const SOUND = {
  "index.html": '<a href="documents/guide.html#urls">guide</a> <a href="https://example.invalid/">elsewhere</a> <a href="#top">top</a><h1 id="top">x</h1>',
  "documents/guide.html": '<h2 id="urls">URLs</h2><a href="../index.html">home</a> <a href="http://127.0.0.1/">an example</a>',
};

describe("check-docs-links", () => {
  it("passes a site whose pages and anchors all exist, without fetching other sites", () => {
    const result = runChecker(site("sound", SOUND));
    expect(result.output).toContain("0 broken");
    expect(result.status).toBe(0);
  }, 30_000);

  it("fails on a link to a missing page", () => {
    const result = runChecker(site("page", { ...SOUND, "documents/guide.html": '<h2 id="urls">URLs</h2><a href="../gone.html">x</a>' }));
    expect(result.output).toContain("gone.html");
    expect(result.status).toBe(1);
  }, 30_000);

  it("fails on a link to a missing anchor of an existing page", () => {
    const result = runChecker(site("anchor", { ...SOUND, "index.html": '<a href="documents/guide.html#no-such-heading">guide</a>' }));
    expect(result.output).toContain("#no-such-heading");
    expect(result.status).toBe(1);
  }, 30_000);

  it("fails on a missing anchor of a page that was checked before the link was found", () => {
    // linkinator alone validates a fragment only if it knows of it when it crawls the target page.
    const result = runChecker(
      site("late-anchor", {
        ...SOUND,
        "index.html": '<a href="documents/guide.html">guide</a> <a href="documents/more.html">more</a>',
        "documents/more.html": '<a href="guide.html#no-such-heading">guide</a>',
      }),
    );
    expect(result.output).toContain("#no-such-heading");
    expect(result.status).toBe(1);
  }, 30_000);
});

describe("check-doc-references", () => {
  const REFERENCES = resolve(import.meta.dirname, "../scripts/check-doc-references.mjs");
  function tree(name: string, source: string): string {
    const dir = join(work, name);
    mkdirSync(join(dir, "docs"), { recursive: true });
    mkdirSync(join(dir, "packages/pkg/src"), { recursive: true });
    writeFileSync(join(dir, "docs/guide.md"), "# The guide\n\n## Ranges\n\n```\n## not a heading\n```\n\n## The server's FILE: paths\n");
    writeFileSync(join(dir, "packages/pkg/src/a.ts"), source);
    return dir;
  }
  function run(dir: string): { status: number; output: string } {
    try {
      return { status: 0, output: execFileSync(process.execPath, [REFERENCES, dir], { encoding: "utf8", stdio: "pipe" }) };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      return { status: e.status, output: e.stdout + e.stderr };
    }
  }

  it("passes source comments citing existing sections of docs/ pages", () => {
    const result = run(tree("refs-sound", "// docs/guide.md#ranges\n/** (docs/guide.md#the-servers-file-paths) and docs/guide.md */\n"));
    expect(result.output).toContain("3 checked, 0 broken");
    expect(result.status).toBe(0);
  });

  it("fails on a cited section or page that does not exist, naming file and line", () => {
    for (const [name, citation] of [
      ["refs-anchor", "docs/guide.md#not-a-heading"],
      ["refs-page", "docs/gone.md#ranges"],
    ]) {
      const result = run(tree(name, `const x = 1;\n// see ${citation}\n`));
      expect(result.output).toContain(`packages/pkg/src/a.ts:2: ${citation}`);
      expect(result.status).toBe(1);
    }
  });
});
