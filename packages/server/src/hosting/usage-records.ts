import { readFile, readdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeFolders } from "./make-folders.js";

/**
 * A repository's usage as last written: `clean` only when the server wrote it at a clean shutdown
 * (nothing changed since). The server marks every record it serves from not clean before its first
 * change, so after a crash the figures are measured again instead of trusted.
 */
export interface UsageRecord {
  bytes: number;
  objects: number;
  clean: boolean;
  /** When a store last succeeded (ms since the epoch), as of the record's writing. */
  lastWrite?: number;
}

/**
 * The usage records under the hosting state folder, one file per repository
 * (`<state>/<user>/<repo>.usage.json`): they also list which repositories a user has, so that the
 * user's quota counts all of them from the first request on.
 */
export class UsageRecords {
  constructor(readonly dir: string) {}

  /** The records of `user`'s repositories (none for a user not seen yet). */
  async readUser(user: string): Promise<Map<string, UsageRecord>> {
    const records = new Map<string, UsageRecord>();
    let names: string[];
    try {
      names = await readdir(join(this.dir, user));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return records;
      throw err;
    }
    for (const name of names) {
      if (!name.endsWith(SUFFIX)) continue;
      records.set(name.slice(0, -SUFFIX.length), parseRecord(await readFile(join(this.dir, user, name), "utf8")));
    }
    return records;
  }

  /** Replaces the record in one rename: a crash leaves the old one or the new one. */
  async write(user: string, repo: string, record: UsageRecord): Promise<void> {
    const folder = join(this.dir, user);
    await makeFolders(folder);
    const path = join(folder, `${repo}${SUFFIX}`);
    const temp = `${path}.${process.pid}.${(counter++).toString(36)}.tmp`;
    await writeFile(temp, `${JSON.stringify(record)}\n`, { flush: true });
    await rename(temp, path);
  }
}

const SUFFIX = ".usage.json";
let counter = 0;

/** A record that does not parse counts as not clean: its repository is measured again. */
function parseRecord(text: string): UsageRecord {
  try {
    const value = JSON.parse(text) as Partial<UsageRecord>;
    if (Number.isSafeInteger(value.bytes) && Number.isSafeInteger(value.objects))
      return {
        bytes: value.bytes as number,
        objects: value.objects as number,
        clean: value.clean === true,
        ...(Number.isSafeInteger(value.lastWrite) ? { lastWrite: value.lastWrite } : {}),
      };
  } catch {
    // measured again
  }
  return { bytes: 0, objects: 0, clean: false };
}
