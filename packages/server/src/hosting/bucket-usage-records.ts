import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConditionalObjects } from "@borgstore/backend-s3";
import { isName } from "./tenant-path.js";
import { SUFFIX, type UsageRecord, type UsageRecordStore, parseRecord } from "./usage-records.js";

/** How often a record this process holds not clean is written again, and how long it must have stayed this process's before a clean write. */
export interface RecordHeartbeatOptions {
  heartbeatMs?: number;
  cleanAfterMs?: number;
}

/** A record this process wrote not clean and keeps writing (its repository is open here). */
interface Held {
  readonly user: string;
  record: UsageRecord;
  /** The repository's figures now (written by each heartbeat), when the writer gave them. */
  readonly live: (() => UsageRecord) | undefined;
  /** When the record became this process's, with no other writer since (performance.now()). */
  since: number;
  /**
   * It was not clean when this process took it: another replica may have had it open (and may
   * still, busy storing, without having written since). A new record, or one read clean, was no one's.
   */
  readonly contested: boolean;
  lastWrite: number;
}

/**
 * The usage records in a bucket that several replicas of the server share (`state_url`), one
 * object per repository (`<prefix><user>/<repo>.usage.json`). Every write is conditional on the
 * ETag this process last read or wrote: a replica that missed another's write (it served the user
 * before a failover, and closes the repository afterwards) gets ObjectChangedElsewhere instead of
 * putting its stale figures back as clean. Each text carries this process's id and a counter, so
 * two replicas never write the same bytes and thus the same (MD5) ETag.
 *
 * Heartbeat: while a repository is open here its record, written not clean, is written again every
 * heartbeatMs (If-Match). Another replica that served the user for a moment (and measured) thus
 * finds its own record overwritten before it could write it clean, and a clean write is only made
 * for a record that stayed this process's for cleanAfterMs (longer than a heartbeat's gap): an
 * owner still storing elsewhere would have written it meanwhile. (Only a record this process took
 * over not clean waits so: a new one, or one it read clean, was open nowhere when it took it, and any
 * replica opening it since wrote it, so that this process's clean write fails.) When a heartbeat finds another
 * writer, the record is written not clean again and the user counts as changed elsewhere (measured
 * again when quiet, see changedElsewhere), and none of the user's records is written clean before that.
 */
export class BucketUsageRecords implements UsageRecordStore {
  readonly #objects: ConditionalObjects;
  /** ETags as this process last saw them, by key. */
  readonly #etags = new Map<string, string>();
  readonly #writer = randomBytes(6).toString("hex");
  #written = 0;
  readonly #held = new Map<string, Held>();
  /** Users one of whose held records another replica wrote: measured again before any clean write. */
  readonly #changed = new Set<string>();
  /** Keys whose record this process read clean and has not written since. */
  readonly #readClean = new Set<string>();
  /** The write running on each key: one at a time, so that a heartbeat never races this process's own write. */
  readonly #running = new Map<string, Promise<void>>();
  /** Users whose records are being listed (changedElsewhere): no heartbeat meanwhile. */
  readonly #listing = new Map<string, number>();
  readonly #heartbeatMs: number;
  readonly #cleanAfterMs: number;
  readonly #timer: NodeJS.Timeout;

  constructor(objects: ConditionalObjects, options: RecordHeartbeatOptions = {}) {
    this.#objects = objects;
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#cleanAfterMs = options.cleanAfterMs ?? 2500;
    this.#timer = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#timer.unref();
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
      const record = parseRecord(found.text);
      if (record.clean) this.#readClean.add(key);
      records.set(repo, record);
    }
    return records;
  }

  /**
   * Throws ObjectChangedElsewhere when another process wrote the record since this one saw it. A
   * clean record (at a close) waits until the record was this process's for cleanAfterMs, and is
   * written not clean, for the next owner to measure, when the user's records changed elsewhere.
   */
  write(user: string, repo: string, record: UsageRecord, live?: () => UsageRecord): Promise<void> {
    const key = `${user}/${repo}${SUFFIX}`;
    return this.#serially(key, async () => {
      const held = this.#held.get(key);
      const contested = held ? held.contested : this.#etags.has(key) && !this.#readClean.has(key);
      const closing = record.clean;
      if (closing) {
        this.#held.delete(key);
        // Held for a moment only: another replica may have the repository open and not have written
        // since. Its heartbeat lands meanwhile (and this write then fails), or there is none.
        const wait = held?.contested && !this.#changed.has(user) ? this.#cleanAfterMs - (performance.now() - held.since) : 0;
        if (wait > 0) await sleep(wait);
        // Its figures still go out (/_usage on other replicas reads them), but the next owner measures.
        if (!held || this.#changed.has(user)) record = { ...record, clean: false };
      }
      try {
        await this.#put(key, record);
      } catch (err) {
        this.#etags.delete(key);
        this.#held.delete(key);
        if (closing && err instanceof Error && err.name === "ObjectChangedElsewhere") await this.#markNotClean(key);
        throw err;
      }
      this.#readClean.delete(key);
      const now = performance.now();
      if (!closing) this.#held.set(key, { user, record, live, contested, since: held?.since ?? now, lastWrite: now });
    });
  }

  remove(user: string, repo: string): Promise<void> {
    const key = `${user}/${repo}${SUFFIX}`;
    return this.#serially(key, async () => {
      this.#held.delete(key);
      this.#readClean.delete(key);
      await this.#objects.delete(key);
      this.#etags.delete(key);
    });
  }

  /** Stops the heartbeat (at shutdown, after the repositories closed). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#held.clear();
    await Promise.allSettled([...this.#running.values()]);
  }

  async #put(key: string, record: UsageRecord): Promise<void> {
    const text = `${JSON.stringify({ ...record, writer: this.#writer, write: ++this.#written })}\n`;
    this.#etags.set(key, await this.#objects.put(key, text, this.#etags.get(key)));
  }

  #serially(key: string, step: () => Promise<void>): Promise<void> {
    const running = (this.#running.get(key) ?? Promise.resolve()).catch(() => {}).then(step);
    const settled = running
      .catch(() => {})
      .finally(() => {
        if (this.#running.get(key) === settled) this.#running.delete(key);
      });
    this.#running.set(key, settled);
    return running;
  }

  #beat(): void {
    const now = performance.now();
    for (const [key, held] of this.#held) {
      // A write of this process's within the last half period counts as the heartbeat; one still
      // running (radosgw slow) is not queued behind again.
      if (this.#listing.has(held.user) || this.#running.has(key) || now - held.lastWrite < this.#heartbeatMs / 2) continue;
      void this.#serially(key, () => this.#rewrite(key, held)).catch(() => {
        // Tried again at the next beat (radosgw unreachable for a moment).
      });
    }
  }

  async #rewrite(key: string, held: Held): Promise<void> {
    if (this.#held.get(key) !== held) return;
    if (held.live) held.record = { ...held.live(), clean: false };
    try {
      await this.#put(key, held.record);
      held.lastWrite = performance.now();
      return;
    } catch (err) {
      if (!(err instanceof Error && err.name === "ObjectChangedElsewhere")) throw err;
    }
    // Another replica wrote it while this one has the repository open: both served the user.
    this.#changed.add(held.user);
    const current = await this.#objects.get(key);
    if (this.#held.get(key) !== held) return;
    if (!current) {
      // Destroyed elsewhere (or deleted by hand): not written back.
      this.#held.delete(key);
      this.#etags.delete(key);
      return;
    }
    this.#etags.set(key, current.etag);
    await this.#put(key, held.record);
    held.since = held.lastWrite = performance.now();
    // Not clean from now on whatever: the user is measured again first (changedElsewhere).
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
    if (this.#changed.has(user)) return true;
    const prefix = `${user}/`;
    this.#listing.set(user, (this.#listing.get(user) ?? 0) + 1);
    try {
      // This process's own writes in flight land first: their new ETags are not another's.
      await Promise.allSettled([...this.#running].filter(([key]) => key.startsWith(prefix)).map(([, running]) => running));
      const listed = await this.#objects.list(prefix);
      let known = 0;
      for (const [key, etag] of this.#etags) {
        if (!key.startsWith(prefix)) continue;
        known++;
        if (listed.get(key) !== etag) return true;
      }
      return [...listed.keys()].filter((key) => key.endsWith(SUFFIX) && isName(key.slice(prefix.length, -SUFFIX.length))).length !== known;
    } finally {
      const left = (this.#listing.get(user) ?? 1) - 1;
      if (left === 0) this.#listing.delete(user);
      else this.#listing.set(user, left);
    }
  }

  #forgetUser(user: string): void {
    this.#changed.delete(user);
    for (const key of this.#readClean) if (key.startsWith(`${user}/`)) this.#readClean.delete(key);
    for (const key of this.#etags.keys()) if (key.startsWith(`${user}/`)) this.#etags.delete(key);
    for (const [key, held] of this.#held) if (held.user === user) this.#held.delete(key);
  }
}

/** Opens the records at an `s3:`/`b2:` URL; @borgstore/backend-s3 must be installed beside the server. */
export async function openBucketUsageRecords(url: string, options: RecordHeartbeatOptions = {}): Promise<BucketUsageRecords> {
  let s3: typeof import("@borgstore/backend-s3");
  try {
    s3 = await import("@borgstore/backend-s3");
  } catch (err) {
    throw new Error(`state_url needs @borgstore/backend-s3 installed beside the server (${(err as Error).message})`, { cause: err });
  }
  return new BucketUsageRecords(s3.ConditionalObjects.fromUrl(url), options);
}
