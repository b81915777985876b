import { readFile, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { makeFolders } from "./make-folders.js";
import { createTempFile } from "./temp-file.js";
import { isName } from "./tenant-path.js";

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

/** Where usage records are kept: the state folder (UsageRecords) or a bucket several replicas share (BucketUsageRecords). */
export interface UsageRecordStore {
  readUser(user: string): Promise<Map<string, UsageRecord>>;
  /** `live`: the figures now, for a store that writes the record again while the repository is open (BucketUsageRecords' heartbeat). */
  write(user: string, repo: string, record: UsageRecord, live?: () => UsageRecord): Promise<void>;
  /** Forgets a repository that no longer exists (destroyed). */
  remove(user: string, repo: string): Promise<void>;
  /** Shared stores only: whether another process wrote `user`'s records since this one last read or wrote them. */
  changedElsewhere?(user: string): Promise<boolean>;
  /** Shared stores only: stops writing the records of repositories open here (at shutdown). */
  close?(): Promise<void>;
}

/**
 * The usage records under the hosting state folder, one file per repository
 * (`<state>/<user>/<repo>.usage.json`): they also list which repositories a user has, so that the
 * user's quota counts all of them from the first request on.
 */
export class UsageRecords implements UsageRecordStore {
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
      if (!name.endsWith(SUFFIX) || !isName(name.slice(0, -SUFFIX.length))) continue;
      records.set(name.slice(0, -SUFFIX.length), parseRecord(await readFile(join(this.dir, user, name), "utf8")));
    }
    return records;
  }

  /** Forgets a repository that no longer exists. */
  async remove(user: string, repo: string): Promise<void> {
    await rm(join(this.dir, user, `${repo}${SUFFIX}`), { force: true });
  }

  /** Replaces the record in one rename: a crash leaves the old one or the new one. */
  async write(user: string, repo: string, record: UsageRecord): Promise<void> {
    const folder = join(this.dir, user);
    await makeFolders(folder);
    const path = join(folder, `${repo}${SUFFIX}`);
    const { path: temp, file } = await createTempFile(folder, 0o666);
    try {
      await file.writeFile(`${JSON.stringify(record)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  }
}

export const SUFFIX = ".usage.json";

/**
 * A record that does not parse counts as not clean: its repository is measured again. So does one
 * with negative figures, which no store can leave (a hand edit): trusted, they would lift the quota.
 */
export function parseRecord(text: string): UsageRecord {
  try {
    const value = JSON.parse(text) as Partial<UsageRecord>;
    if (isCount(value.bytes) && isCount(value.objects))
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

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
