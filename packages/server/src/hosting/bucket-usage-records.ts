import { randomBytes } from "node:crypto";
import type { ConditionalObjects } from "@borgstore/backend-s3";
import { isName } from "./tenant-path.js";
import { SUFFIX, type UsageRecord, type UsageRecordStore, parseRecord } from "./usage-records.js";

/**
 * The usage records in a bucket that several replicas of the server share (`state_url`), one
 * object per repository (`<prefix><user>/<repo>.usage.json`). Every write is conditional on the
 * ETag this process last read or wrote: a replica that missed another's write (it served the user
 * before a failover, and closes the repository afterwards) gets ObjectChangedElsewhere instead of
 * putting its stale figures back as clean. Each text carries this process's id and a counter, so
 * two replicas never write the same bytes and thus the same (MD5) ETag.
 */
export class BucketUsageRecords implements UsageRecordStore {
  readonly #objects: ConditionalObjects;
  /** ETags as this process last saw them, by key. */
  readonly #etags = new Map<string, string>();
  readonly #writer = randomBytes(6).toString("hex");
  #written = 0;

  constructor(objects: ConditionalObjects) {
    this.#objects = objects;
  }

  async readUser(user: string): Promise<Map<string, UsageRecord>> {
    const records = new Map<string, UsageRecord>();
    this.#forgetUser(user);
    for (const key of (await this.#objects.list(`${user}/`)).keys()) {
      const repo = key.slice(user.length + 1, -SUFFIX.length);
      // A key no replica writes (by hand: "one/data" would measure the folder data/ of "one" as a repository).
      if (!key.endsWith(SUFFIX) || !isName(repo)) continue;
      const found = await this.#objects.get(key);
      if (!found) continue;
      this.#etags.set(key, found.etag);
      records.set(repo, parseRecord(found.text));
    }
    return records;
  }

  /** Throws ObjectChangedElsewhere when another process wrote the record since this one saw it. */
  async write(user: string, repo: string, record: UsageRecord): Promise<void> {
    const key = `${user}/${repo}${SUFFIX}`;
    const text = `${JSON.stringify({ ...record, writer: this.#writer, write: ++this.#written })}\n`;
    try {
      this.#etags.set(key, await this.#objects.put(key, text, this.#etags.get(key)));
    } catch (err) {
      this.#etags.delete(key);
      if (record.clean && err instanceof Error && err.name === "ObjectChangedElsewhere") await this.#markNotClean(key);
      throw err;
    }
  }

  async remove(user: string, repo: string): Promise<void> {
    const key = `${user}/${repo}${SUFFIX}`;
    await this.#objects.delete(key);
    this.#etags.delete(key);
  }

  /**
   * This process closed a repository that another replica has taken over meanwhile: stores that
   * finished here after the other one measured are in neither's figures. The record is marked not
   * clean so that the owner measures again (when the user is next quiet there, see changedElsewhere).
   */
  async #markNotClean(key: string): Promise<void> {
    const current = await this.#objects.get(key);
    if (!current) return;
    // Written even when it is not clean already: the new ETag is what tells the owner to measure.
    const text = `${JSON.stringify({ ...parseRecord(current.text), clean: false, writer: this.#writer, write: ++this.#written })}\n`;
    // Lost again: the owner wrote just now, after its own measuring; nothing to add.
    await this.#objects.put(key, text, current.etag).catch(() => {});
  }

  /** One listing of the user's records: any added, removed or changed since this process saw them. */
  async changedElsewhere(user: string): Promise<boolean> {
    const listed = await this.#objects.list(`${user}/`);
    const prefix = `${user}/`;
    let known = 0;
    for (const [key, etag] of this.#etags) {
      if (!key.startsWith(prefix)) continue;
      known++;
      if (listed.get(key) !== etag) return true;
    }
    return [...listed.keys()].filter((key) => key.endsWith(SUFFIX) && isName(key.slice(prefix.length, -SUFFIX.length))).length !== known;
  }

  #forgetUser(user: string): void {
    for (const key of this.#etags.keys()) if (key.startsWith(`${user}/`)) this.#etags.delete(key);
  }
}

/** Opens the records at an `s3:`/`b2:` URL; @borgstore/backend-s3 must be installed beside the server. */
export async function openBucketUsageRecords(url: string): Promise<BucketUsageRecords> {
  let s3: typeof import("@borgstore/backend-s3");
  try {
    s3 = await import("@borgstore/backend-s3");
  } catch (err) {
    throw new Error(`state_url needs @borgstore/backend-s3 installed beside the server (${(err as Error).message})`, { cause: err });
  }
  return new BucketUsageRecords(s3.ConditionalObjects.fromUrl(url));
}
