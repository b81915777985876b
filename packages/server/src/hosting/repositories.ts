import { ErrorCodes, isBorgStoreError } from "@borgstore/core";
import { BackendHost } from "../backend-host.js";
import { backendFromServerUrl } from "../backend-url.js";
import type { HostingConfig } from "./config.js";
import type { DeleteGraceHooks } from "./delete-grace.js";
import { type QuotaLimits, type RepoUsage, type UsageFigures, UserUsage } from "./usage.js";
import { UsageLayer, measure } from "./usage-layer.js";
import type { UsageRecord, UsageRecordStore } from "./usage-records.js";
import { limitsOf } from "./route-table.js";

/** Loads of a user's figures that another replica's writes may spoil, one after another, before a request fails. */
const LOAD_ATTEMPTS = 5;

/** One repository's shared store: opened once, used by every request of every credential allowed in. */
export interface Repository {
  readonly user: string;
  readonly name: string;
  readonly host: BackendHost;
  readonly store: UsageLayer;
  /** The store's location (what error messages must not show), read once when it was opened. */
  readonly location: string | undefined;
  /** It exists (its figures are measured, read from a clean record, or it was created here). */
  readonly known: boolean;
}

/** A repository in use by a request: `release` once the request is done (exactly once). */
export interface RepositoryUse {
  repository: Repository;
  release(): void;
}

interface Entry extends Repository {
  readonly key: string;
  readonly owner: UserUsage;
  /** Its usage is known: measured, read from a clean record, or created here. */
  known: boolean;
  measuring?: Promise<void>;
  /** Requests (and measurements) using it now: one in use is never closed. */
  users: number;
  idleSince: number;
  /** Dropped while in use (#forgetUser): called when its last request is done. */
  drained?: () => void;
}

export interface RepositoriesOptions {
  waitLimitMs?: number;
  /** An idle repository is closed after this long (its figures are kept). */
  idleMs?: number;
  /** At most this many idle repositories stay open; the least recently used are closed first. */
  maxIdle?: number;
  /** Delete grace (delete-grace.ts): wraps each repository's backend; kept bytes count in its usage. */
  grace?: DeleteGraceHooks;
  /** Shared records: a user quiet here this long has their records checked for another replica's writes first. */
  revalidateMs?: number;
}

/**
 * The repositories of all users, each opened from the backend URL template while requests use it.
 * A request to a repository that does not exist leaves nothing behind once it is done; an existing
 * one stays open while idle for a while (idleMs, at most maxIdle of them), then is closed with its
 * record written clean and its figures kept in its user's sum. A user's figures are loaded on
 * their first request, every repository they have (per the usage records), so that their quota
 * counts all of them.
 */
export class Repositories {
  readonly #config: () => HostingConfig;
  readonly #records: UsageRecordStore;
  readonly #waitLimitMs: number | undefined;
  readonly #idleMs: number;
  readonly #maxIdle: number;
  readonly #users = new Map<string, Promise<UserUsage>>();
  /** The users whose figures are loaded (the metrics read these without waiting for a load). */
  readonly #loaded = new Map<string, UserUsage>();
  readonly #entries = new Map<string, Entry>();
  readonly #opening = new Map<string, Promise<Entry>>();
  readonly #closing = new Map<string, Promise<void>>();
  /** Open entries no request uses, least recently used first. */
  readonly #idle = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #grace: DeleteGraceHooks | undefined;
  /** Shared records only: per user, requests in flight here and when the last one came or went. */
  readonly #activity = new Map<string, { inFlight: number; lastSeen: number }>();
  readonly #revalidateMs: number;
  readonly #measureOnLoad = new Set<string>();

  constructor(config: () => HostingConfig, records: UsageRecordStore, options: RepositoriesOptions = {}) {
    this.#config = config;
    this.#records = records;
    this.#waitLimitMs = options.waitLimitMs;
    this.#idleMs = options.idleMs ?? 60_000;
    this.#maxIdle = options.maxIdle ?? 256;
    this.#grace = options.grace;
    this.#revalidateMs = options.revalidateMs ?? 1000;
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(10, Math.floor(this.#idleMs / 2)));
    this.#sweeper.unref();
  }

  /** The repository `repo` of `user`, with its usage known if it exists; release it when done. */
  use(user: string, repo: string): Promise<RepositoryUse> {
    return Promise.resolve(this.#useOpen(user, repo) ?? this.#useAny(user, repo));
  }

  /** use() without waiting, for a repository open and known whose figures are loaded; undefined: call use(). */
  useIfOpen(user: string, repo: string): RepositoryUse | undefined {
    return this.#useOpen(user, repo);
  }

  /**
   * What `#useAny` does for a repository open and known, its user's figures loaded, and no shared
   * records to revalidate (every request of a busy repository): the same steps, without waiting.
   */
  #useOpen(user: string, repo: string): RepositoryUse | undefined {
    if (this.#records.changedElsewhere) return undefined;
    const entry = this.#entries.get(`${user}/${repo}`);
    if (!entry?.known || this.#loaded.get(user) !== entry.owner || !this.#users.has(user)) return undefined;
    entry.users++;
    this.#idle.delete(entry.key);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#release(entry);
    };
    return { repository: entry, release };
  }

  async #useAny(user: string, repo: string): Promise<RepositoryUse> {
    const activity = await this.#revalidate(user);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#use(user, repo, activity);
      } catch (err) {
        if (!(err instanceof Error && err.name === "ObjectChangedElsewhere") || attempt === LOAD_ATTEMPTS) throw err;
        // Another replica wrote this user's records (it served them meanwhile): load them afresh.
        // Requests running on the dropped stores finish first (#forgetUser), and the other replica
        // may write again meanwhile: no client retries the 500 this would answer, so try again.
        this.#forgetUser(user);
      }
    }
  }

  async #use(user: string, repo: string, activity: { inFlight: number; lastSeen: number } | undefined): Promise<RepositoryUse> {
    const usage = await this.#user(user);
    const entry = await this.#acquire(usage, repo);
    let released = false;
    if (activity) activity.inFlight++;
    const release = () => {
      if (released) return;
      released = true;
      if (activity) {
        activity.inFlight--;
        activity.lastSeen = Date.now();
      }
      this.#release(entry);
    };
    try {
      if (!entry.known) await this.#measure(entry);
    } catch (err) {
      release();
      throw err;
    }
    return { repository: entry, release };
  }

  /** How many repositories are open and how many have figures kept (for tests and monitoring). */
  async counts(): Promise<{ open: number; tracked: number }> {
    let tracked = 0;
    for (const loading of this.#users.values()) tracked += (await loading).tracked;
    return { open: this.#entries.size, tracked };
  }

  /**
   * The figures of every repository `user` has, open or closed, by name: from memory and the usage
   * records, never by listing a store (except the first time after a crash, as any first request).
   * One opened by a request but not (yet) known to exist is left out.
   */
  async report(user: string): Promise<Map<string, UsageFigures>> {
    // Shared records: /_usage reaches whichever replica nginx hashes "" to, often not the user's
    // owner. Loading the user here would measure and write their records (clean at the idle close,
    // while the owner goes on storing: after the owner's crash its successor would trust them), so a
    // user not served here gets the records as written; one served here, figures revalidated.
    if (this.#records.changedElsewhere && !this.#users.has(user)) return this.#recorded(user);
    await this.#revalidate(user);
    return this.#figuresOf(user, await this.#user(user));
  }

  /** The figures of `user`'s records as last written, read without loading the user (nothing opened, measured or written). */
  async #recorded(user: string): Promise<Map<string, UsageFigures>> {
    const figures = new Map<string, UsageFigures>();
    for (const [name, { bytes, objects, lastWrite }] of await this.#records.readUser(user)) figures.set(name, { bytes, objects, lastWrite });
    return figures;
  }

  /**
   * report() of every user loaded since start, without waiting for any (the metrics read it at
   * each scrape; a user still loading is not in it yet).
   */
  loadedReports(): Map<string, Map<string, UsageFigures>> {
    const reports = new Map<string, Map<string, UsageFigures>>();
    for (const [user, usage] of this.#loaded) reports.set(user, this.#figuresOf(user, usage));
    return reports;
  }

  #figuresOf(user: string, usage: UserUsage): Map<string, UsageFigures> {
    const figures = new Map<string, UsageFigures>(usage.parked());
    for (const [name, repo] of usage.repos) {
      // An open repository's figures come with its entry in one step (#open), so each has one.
      if (this.#entries.get(`${user}/${name}`)?.known)
        figures.set(name, { bytes: repo.bytes, objects: repo.objects, lastWrite: repo.lastWrite });
    }
    return figures;
  }

  /** The limits a store into `user`'s `repo` must keep, from the configuration in force. */
  limits(user: string, repo: string): QuotaLimits {
    return limitsOf(this.#config(), user, repo);
  }

  /** Closes every repository once its requests are done and writes its figures as clean. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.allSettled([...this.#opening.values()]);
    await Promise.all([...this.#entries.values()].map((entry) => this.#closeEntry(entry)));
    await Promise.all([...this.#closing.values()]);
  }

  /**
   * Shared records: a user with no request here for revalidateMs may have been served by another
   * replica meanwhile (a failover, a restart): one listing of their records says so, and then
   * every figure of theirs this process holds is dropped and read again from the bucket.
   */
  async #revalidate(user: string): Promise<{ inFlight: number; lastSeen: number } | undefined> {
    const records = this.#records;
    if (!records.changedElsewhere) return undefined;
    let activity = this.#activity.get(user);
    if (!activity) {
      activity = { inFlight: 0, lastSeen: Date.now() };
      this.#activity.set(user, activity);
      return activity;
    }
    const quiet = activity.inFlight === 0 && Date.now() - activity.lastSeen >= this.#revalidateMs;
    activity.lastSeen = Date.now();
    if (quiet && this.#users.has(user) && (await records.changedElsewhere(user))) this.#forgetUser(user);
    return activity;
  }

  /**
   * Drops the user's figures and closes their open repositories without writing their records. Both
   * replicas served the user meanwhile: a record the other wrote clean misses what was stored here
   * after it measured, so the user's repositories are measured again rather than read.
   */
  #forgetUser(user: string): void {
    this.#users.delete(user);
    this.#measureOnLoad.add(user);
    for (const entry of [...this.#entries.values()]) {
      if (entry.user !== user) continue;
      this.#entries.delete(entry.key);
      this.#idle.delete(entry.key);
      // Registered as closing, so that the store opened in its place (#open) measures once the
      // requests using this one are done (their upload's body may not even have reached the
      // store yet): a store finishing after that measurement would be in neither figure.
      const drained = entry.users === 0 ? Promise.resolve() : new Promise<void>((resolve) => (entry.drained = resolve));
      const closing = drained
        .then(() => entry.host.close())
        .catch(() => {})
        .finally(() => {
          if (this.#closing.get(entry.key) === closing) this.#closing.delete(entry.key);
        });
      this.#closing.set(entry.key, closing);
    }
  }

  #user(user: string): Promise<UserUsage> {
    let loading = this.#users.get(user);
    if (!loading) {
      loading = this.#loadUser(user);
      this.#users.set(user, loading);
      loading.then((usage) => this.#loaded.set(user, usage)).catch(() => {});
      // A failed load (unreadable state folder) is tried again by the next request.
      loading.catch(() => this.#users.delete(user));
    }
    return loading;
  }

  async #loadUser(user: string): Promise<UserUsage> {
    const measureAll = this.#measureOnLoad.has(user);
    const usage = new UserUsage(user);
    const records = await this.#records.readUser(user);
    await Promise.all(
      [...records].map(async ([repo, record]) => {
        // A clean record stays clean until its repository is opened again.
        if (record.clean && !measureAll) return usage.park(repo, record);
        const entry = await this.#acquire(usage, repo);
        entry.store.usage.lastWrite ??= record.lastWrite;
        try {
          await this.#measure(entry);
        } finally {
          this.#release(entry);
        }
      }),
    );
    this.#measureOnLoad.delete(user);
    return usage;
  }

  async #acquire(usage: UserUsage, repo: string): Promise<Entry> {
    const key = `${usage.user}/${repo}`;
    for (;;) {
      const existing = this.#entries.get(key);
      if (existing) {
        existing.users++;
        this.#idle.delete(key);
        return existing;
      }
      let opening = this.#opening.get(key);
      if (!opening) {
        opening = this.#open(usage, repo, key).finally(() => this.#opening.delete(key));
        this.#opening.set(key, opening);
      }
      await opening;
    }
  }

  async #open(usage: UserUsage, repo: string, key: string): Promise<Entry> {
    // The previous store of this name finishes closing (and writing its clean record) first.
    await this.#closing.get(key);
    const url = this.#config().repositories.backend.replaceAll("{user}", usage.user).replaceAll("{repo}", repo);
    const backend = await backendFromServerUrl(url);
    const parked = usage.parked().get(repo);
    // From now on changes are not in the record: a crash must measure again. Written while the
    // figures are still parked, so that a report meanwhile lists them (the rest is one step).
    if (parked) await this.#records.write(usage.user, repo, { ...parked, clean: false });
    usage.unpark(repo);
    const repoUsage = usage.repo(repo);
    const kept = this.#grace?.wrap(backend, usage.user, repo, this.#keptAccounting(usage.user, repo, repoUsage)) ?? backend;
    const entry = { key, owner: usage, user: usage.user, name: repo, known: false, users: 0, idleSince: 0 } as Entry;
    const store = new UsageLayer(kept, repoUsage, () => this.limits(usage.user, repo), async (event) => {
      // A destroyed repository is no longer the user's: no record, no figures once its requests are done.
      entry.known = event === "create";
      if (entry.known) await this.#write(entry, false);
      else await this.#records.remove(entry.user, entry.name);
    });
    Object.assign(entry, { store, location: store.location, host: new BackendHost(store, { waitLimitMs: this.#waitLimitMs }) });
    if (parked) {
      repoUsage.set(parked.bytes, parked.objects);
      repoUsage.lastWrite = parked.lastWrite;
      entry.known = true;
    }
    this.#entries.set(key, entry);
    return entry;
  }

  #release(entry: Entry): void {
    entry.users--;
    if (entry.users > 0) return;
    if (this.#entries.get(entry.key) !== entry) {
      entry.drained?.();
      return;
    }
    if (!entry.known) {
      // It does not exist (or could not be measured): nothing of it is kept.
      void this.#closeEntry(entry);
      return;
    }
    entry.idleSince = Date.now();
    this.#idle.set(entry.key, entry);
    for (const oldest of this.#idle.values()) {
      if (this.#idle.size <= this.#maxIdle) break;
      void this.#closeEntry(oldest);
    }
  }

  #sweep(): void {
    const before = Date.now() - this.#idleMs;
    for (const entry of this.#idle.values()) {
      if (entry.idleSince > before) break;
      void this.#closeEntry(entry);
    }
  }

  /** Forgets the entry at once (its figures parked in its user's sum) and closes its store. */
  #closeEntry(entry: Entry): Promise<void> {
    if (this.#entries.get(entry.key) !== entry) return this.#closing.get(entry.key) ?? Promise.resolve();
    this.#entries.delete(entry.key);
    this.#idle.delete(entry.key);
    const figures = { bytes: entry.store.usage.bytes, objects: entry.store.usage.objects, lastWrite: entry.store.usage.lastWrite };
    if (entry.known) entry.owner.park(entry.name, figures);
    else entry.owner.forget(entry.name);
    const closing = (async () => {
      await entry.host.close();
      // At shutdown requests may still have finished: the figures after them.
      if (entry.known) await this.#write(entry, true);
    })()
      .catch(() => {
        // The record stays not clean: the next start measures it again.
      })
      .finally(() => {
        if (this.#closing.get(entry.key) === closing) this.#closing.delete(entry.key);
      });
    this.#closing.set(entry.key, closing);
    return closing;
  }

  /** Lists the repository whole (see measure); one that does not exist (yet) stays unknown at 0. */
  #measure(entry: Entry): Promise<void> {
    entry.measuring ??= (async () => {
      try {
        const figures = await entry.host.use((b) => measure(b));
        entry.store.usage.set(figures.bytes + ((await this.#grace?.keptBytes(entry.user, entry.name)) ?? 0), figures.objects);
        entry.known = true;
        await this.#write(entry, false);
      } catch (err) {
        if (!isBorgStoreError(err, ErrorCodes.BACKEND_DOES_NOT_EXIST)) throw err;
      } finally {
        entry.measuring = undefined;
      }
    })();
    return entry.measuring;
  }

  /** Kept bytes count in the repository's bytes (not its objects), against its and its user's quota. */
  #keptAccounting(user: string, repo: string, usage: RepoUsage) {
    return { reserve: (bytes: number) => usage.reserve(bytes, this.limits(user, repo)), apply: (bytes: number) => usage.apply(bytes, 0) };
  }

  #write(entry: Entry, clean: boolean): Promise<void> {
    const figures = (): UsageRecord => {
      const { bytes, objects, lastWrite } = entry.store.usage;
      return { bytes, objects, clean, ...(lastWrite === undefined ? {} : { lastWrite }) };
    };
    return this.#records.write(entry.user, entry.name, figures(), figures);
  }
}
