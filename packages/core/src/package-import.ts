import { existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { resolve } from "import-meta-resolve";

/**
 * Imports `packageName` as the application would see it. Core's own `import()` resolves from
 * core's location, which under pnpm's isolated node_modules cannot see packages that only the
 * application installed; so, failing that, resolve it with Node's ESM algorithm as if imported
 * from the working directory, then from the main script's directory. Undefined when neither has it.
 */
export async function importFromApplication(packageName: string): Promise<unknown> {
  for (const dir of applicationDirs()) {
    let url: string;
    try {
      url = resolve(packageName, pathToFileURL(join(dir, "application.js")).href);
    } catch (err) {
      if ((err as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") continue;
      throw err;
    }
    return import(url);
  }
  return undefined;
}

function applicationDirs(): string[] {
  const dirs = [process.cwd()];
  const main = process.argv[1];
  if (main && existsSync(main)) dirs.push(dirname(realpathSync(main)));
  return dirs;
}
