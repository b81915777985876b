import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/**
 * `mkdir -p`, failing at once where a folder cannot be made: Node's recursive mkdir spins for ever
 * under /proc (mkdir answers ENOENT although the parent exists, and it retries the parent).
 */
export async function makeFolders(path: string): Promise<void> {
  const missing: string[] = [];
  let at = resolve(path);
  for (;;) {
    try {
      if (!(await stat(at)).isDirectory()) throw new Error(`${at} is not a folder`);
      break;
    } catch (err) {
      const up = dirname(at);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || up === at) throw err;
      missing.unshift(at);
      at = up;
    }
  }
  for (const folder of missing) {
    try {
      await mkdir(folder);
    } catch (err) {
      // Made by another writer meanwhile (two users' first records at once).
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}
