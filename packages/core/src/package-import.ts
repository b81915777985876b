import { existsSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join, parse } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Imports `packageName` as the application would see it. Core's own `import()` resolves from
 * core's location, which under pnpm's isolated node_modules cannot see packages that only the
 * application installed; so, failing that, look in the node_modules folders above the working
 * directory and above the main script.
 */
export async function importFromApplication(packageName: string): Promise<unknown> {
  for (const start of applicationDirs()) {
    const entry = findPackageEntry(start, packageName);
    if (entry) return import(pathToFileURL(entry).href);
  }
  return undefined;
}

function applicationDirs(): string[] {
  const dirs = [process.cwd()];
  const main = process.argv[1];
  if (main && existsSync(main)) dirs.push(dirname(realpathSync(main)));
  return dirs;
}

function findPackageEntry(start: string, packageName: string): string | undefined {
  let dir = start;
  const { root } = parse(dir);
  for (;;) {
    const pkgDir = join(dir, "node_modules", packageName);
    const manifest = join(pkgDir, "package.json");
    if (existsSync(manifest)) {
      const entry = esmEntry(JSON.parse(readFileSync(manifest, "utf8")));
      return entry ? join(pkgDir, entry) : undefined;
    }
    if (dir === root) return undefined;
    dir = dirname(dir);
  }
}

type Exports = string | { [condition: string]: Exports | undefined } | undefined;

function esmEntry(manifest: { exports?: Exports; main?: string }): string | undefined {
  let target: Exports = manifest.exports;
  if (target && typeof target === "object" && "." in target) target = target["."];
  while (target && typeof target === "object") target = target.import ?? target.default ?? target.node;
  return typeof target === "string" ? target : (manifest.main ?? "index.js");
}
