import { randomBytes } from "node:crypto";
import { lstat, open, readlink, rename, rm, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Linux's limit on symlinks followed in one path lookup. */
const MAX_SYMLINKS = 40;

/**
 * Writes a stream to FILE the way cp and curl -o do, but never leaves a part of the value in a
 * regular file: a FIFO, device or socket is written straight through (renaming over it would
 * replace it); a regular file, new or old, gets the value by way of a partial file next to it that
 * is renamed over it when complete. A symlink is followed, so it stays a link to the new value.
 * The partial file is created exclusively: someone else's FILE.partial is left alone.
 */
export async function writeToFile(source: Readable, progress: Transform, file: string): Promise<void> {
  const existing = await stat(file).catch(ignoreMissing);
  if (existing && !existing.isFile() && !existing.isDirectory()) {
    const handle = await open(file, "w");
    await pipeline(source, progress, handle.createWriteStream());
    return;
  }
  const target = await resolveSymlinks(file);
  const { handle, partial } = await createPartial(target);
  try {
    await pipeline(source, progress, handle.createWriteStream());
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): undefined {
  if (err.code === "ENOENT") return undefined;
  throw err;
}

/** FILE with its symlinks followed, also a dangling one (its target is created). */
async function resolveSymlinks(file: string): Promise<string> {
  let path = resolve(file);
  for (let hops = 0; hops < MAX_SYMLINKS; hops++) {
    const info = await lstat(path).catch(ignoreMissing);
    if (!info?.isSymbolicLink()) return path;
    path = resolve(dirname(path), await readlink(path));
  }
  const loop: NodeJS.ErrnoException = new Error(`too many levels of symbolic links: ${file}`);
  loop.code = "ELOOP";
  throw loop;
}

/** FILE.partial, or FILE.partial.<random> when a FILE.partial exists that is not ours. */
async function createPartial(target: string) {
  for (const partial of [`${target}.partial`, `${target}.partial.${randomBytes(6).toString("hex")}`]) {
    try {
      return { handle: await open(partial, "wx"), partial };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  throw new Error(`cannot create a partial file next to ${target}: names taken`);
}
