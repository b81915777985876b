import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./helpers.js";

const packageDir = fileURLToPath(new URL("..", import.meta.url));

/** The directory of package `name` as node would find it from `from`. */
function findPackage(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return realpathSync(candidate);
    if (dirname(dir) === dir) throw new Error(`${name} not found from ${from}`);
  }
}

/**
 * A copy of this package's build and its runtime dependencies in a fresh temp directory every user
 * may enter, so a test can run it as another user (nobody) even when the checkout lies in a home
 * directory only its owner may traverse. Returns the directory to run from.
 */
export function runnableCopy(): string {
  const root = tempDir("borgstore-posixfs-copy-");
  const modules = join(root, "node_modules");
  const copied = new Set<string>();
  const copy = (name: string, from: string) => {
    if (copied.has(name)) return;
    copied.add(name);
    const source = name === "@borgstore/backend-posixfs" ? packageDir : findPackage(name, from);
    const dest = join(modules, name);
    mkdirSync(dest, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
    if (source.includes(`${join("node_modules", ".pnpm")}`)) {
      cpSync(source, dest, { recursive: true, dereference: true });
    } else {
      // A workspace package: its build only (no sources, tests or node_modules).
      cpSync(join(source, "package.json"), join(dest, "package.json"));
      cpSync(join(source, "dist"), join(dest, "dist"), { recursive: true });
    }
    // Peers too: the application installs them (core is every backend's peer).
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) copy(dep, source);
  };
  copy("@borgstore/backend-posixfs", packageDir);
  chmodSync(root, 0o755);
  return root;
}
