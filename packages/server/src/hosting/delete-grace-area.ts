import { randomBytes } from "node:crypto";
import { open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { TEMP_NAME } from "@borgstore/core/backend";
import { makeFolders } from "./make-folders.js";
import { createTempFile } from "./temp-file.js";

/**
 * The least a kept item counts against the quota: a file's least disk use. Without it, kept empty
 * (or tiny) values would cost no quota, and one user could fill the state folder's inodes.
 */
export const KEPT_ITEM_MIN_BYTES = 4096;

/** What a kept value of `size` bytes counts against its repository's and user's quota. */
export function keptCharge(size: number): number {
  return Math.max(size, KEPT_ITEM_MIN_BYTES);
}

/** Why an item was kept: deleted, replaced by a store or a move onto it, or moved out of the protected namespaces. */
export type KeptReason = "delete" | "overwrite" | "move";

/** One kept value: its file in the kept area, the name it had, when and why it was kept. */
export interface KeptItem {
  readonly file: string;
  readonly name: string;
  readonly keptAt: number;
  readonly reason: KeptReason;
  readonly size: number;
}

/**
 * The folder under the state folder where the hosting server keeps deleted and replaced values of
 * repositories with a delete grace: `<state_dir>/_delete-grace/<user>/<repo>/`, one file per kept
 * value, named `<ms since 1970>-<random>-<reason>-<base64url of the item name>`. No user name
 * starts with "_" (config.ts), so the folder is no user's usage records; no request path leads
 * here: clients only ever reach their repositories' backends.
 */
export class KeptArea {
  /** The last keptAt given: each later one is at least a millisecond later, so kept names order the changes. */
  #lastKeptAt = 0;

  constructor(readonly root: string) {}

  /** `<state_dir>/_delete-grace` for a state folder. */
  static under(stateDir: string): KeptArea {
    return new KeptArea(join(stateDir, "_delete-grace"));
  }

  folder(user: string, repo: string): string {
    return join(this.root, user, repo);
  }

  /**
   * Writes the value `read` opens (the value of `name`; undefined: there is none, nothing is kept)
   * as a kept file: to a temp file, flushed, then renamed, so that after a crash a kept file is
   * whole or absent. The temp file is made before the value is opened, so that a failure after it
   * is opened happens while it is being read (and the read is closed).
   */
  async keep(
    user: string,
    repo: string,
    name: string,
    reason: KeptReason,
    read: () => Promise<AsyncIterable<Uint8Array> | undefined>,
  ): Promise<KeptItem | undefined> {
    const folder = this.folder(user, repo);
    await makeFolders(folder);
    // Two changes of one name in the same millisecond must still say which came first (--restore picks by it).
    const keptAt = Math.max(Date.now(), this.#lastKeptAt + 1);
    this.#lastKeptAt = keptAt;
    const base = `${String(keptAt).padStart(13, "0")}-${randomBytes(6).toString("hex")}-${reason}-${Buffer.from(name).toString("base64url")}`;
    const { path: temp, file } = await createTempFile(folder, 0o600);
    let size = 0;
    let found = false;
    try {
      try {
        const source = await read();
        found = source !== undefined;
        if (source)
          for await (const chunk of source) {
            await file.write(chunk);
            size += chunk.byteLength;
          }
        await file.sync();
      } finally {
        await file.close();
      }
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    if (!found) {
      await rm(temp, { force: true });
      return undefined;
    }
    const path = join(folder, base);
    await rename(temp, path);
    await syncFolder(folder);
    return { file: path, name, keptAt, reason, size };
  }

  /** Removes a kept file whose change did not happen (the item is still current). */
  async discard(item: KeptItem): Promise<void> {
    await rm(item.file, { force: true });
  }

  /** The kept items of a repository, oldest first. */
  async list(user: string, repo: string): Promise<KeptItem[]> {
    const folder = this.folder(user, repo);
    const items: KeptItem[] = [];
    for (const entry of await entries(folder)) {
      const parsed = parseKeptName(entry);
      if (!parsed) continue;
      try {
        items.push({ ...parsed, file: join(folder, entry), size: (await stat(join(folder, entry))).size });
      } catch (err) {
        // Purged meanwhile.
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return items.sort((a, b) => a.keptAt - b.keptAt || a.file.localeCompare(b.file));
  }

  /** Whether any item of the repository was kept before `before`: names only, no file is looked at. */
  async anyKeptBefore(user: string, repo: string, before: number): Promise<boolean> {
    return (await entries(this.folder(user, repo))).some((entry) => (parseKeptName(entry)?.keptAt ?? before) < before);
  }

  /** What a repository's kept items count against its quota (each at least KEPT_ITEM_MIN_BYTES). */
  async bytes(user: string, repo: string): Promise<number> {
    let sum = 0;
    for (const item of await this.list(user, repo)) sum += keptCharge(item.size);
    return sum;
  }

  /**
   * Removes the items kept before `before` (ms since 1970), and temp files a crash left behind
   * older than `tempsBefore`: what the items removed counted against the quota (keptCharge).
   */
  async purge(user: string, repo: string, before: number, tempsBefore: number): Promise<number> {
    const folder = this.folder(user, repo);
    let bytes = 0;
    for (const entry of await entries(folder)) {
      const path = join(folder, entry);
      if (TEMP_NAME.test(entry)) {
        const modified = await stat(path).then((s) => s.mtimeMs, () => Number.POSITIVE_INFINITY);
        if (modified < tempsBefore) await rm(path, { force: true });
        continue;
      }
      const parsed = parseKeptName(entry);
      if (!parsed || parsed.keptAt >= before) continue;
      try {
        const { size } = await stat(path);
        await unlink(path);
        bytes += keptCharge(size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return bytes;
  }

  /** Every repository with a kept-area folder. */
  async repositories(): Promise<Array<{ user: string; repo: string }>> {
    const found: Array<{ user: string; repo: string }> = [];
    for (const user of await entries(this.root)) for (const repo of await entries(join(this.root, user))) found.push({ user, repo });
    return found;
  }
}

const KEPT_NAME = /^(\d{13,})-[0-9a-f]{12}-(delete|overwrite|move)-([A-Za-z0-9_-]+)$/;

function parseKeptName(entry: string): Omit<KeptItem, "file" | "size"> | undefined {
  const match = KEPT_NAME.exec(entry);
  if (!match) return undefined;
  return { keptAt: Number(match[1]), reason: match[2] as KeptReason, name: Buffer.from(match[3] as string, "base64url").toString() };
}

async function entries(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw err;
  }
}

/** The rename itself survives a power loss once its folder is flushed. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
