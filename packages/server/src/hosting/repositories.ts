import { ErrorCodes, isBorgStoreError } from "@borgstore/core";
import { BackendHost } from "../backend-host.js";
import { backendFromServerUrl } from "../backend-url.js";
import type { HostingConfig } from "./config.js";
import { type QuotaLimits, UserUsage } from "./usage.js";
import { UsageLayer, measure } from "./usage-layer.js";
import type { UsageRecords } from "./usage-records.js";

/** One repository's shared store: opened once, used by every request of every credential allowed in. */
export interface Repository {
  readonly user: string;
  readonly name: string;
  readonly host: BackendHost;
  readonly store: UsageLayer;
}

interface Entry extends Repository {
  /** Its usage is known: measured, read from a clean record, or created here. */
  known: boolean;
  measuring?: Promise<void>;
}

/**
 * The repositories of all users, each made on first use from the backend URL template and kept
 * open. A user's figures are loaded on their first request, every repository they have (per the
 * usage records), so that their quota counts all of them.
 */
export class Repositories {
  readonly #config: () => HostingConfig;
  readonly #records: UsageRecords;
  readonly #waitLimitMs: number | undefined;
  readonly #users = new Map<string, Promise<UserUsage>>();
  readonly #entries = new Map<string, Entry>();

  constructor(config: () => HostingConfig, records: UsageRecords, options: { waitLimitMs?: number } = {}) {
    this.#config = config;
    this.#records = records;
    this.#waitLimitMs = options.waitLimitMs;
  }

  /** The repository `repo` of `user`, with its usage known if it exists. */
  async get(user: string, repo: string): Promise<Repository> {
    const usage = await this.#user(user);
    const entry = await this.#entry(usage, repo);
    if (!entry.known) await this.#measure(entry);
    return entry;
  }

  /** The limits a store into `user`'s `repo` must keep, from the configuration in force. */
  limits(user: string, repo: string): QuotaLimits {
    const config = this.#config();
    const key = `${user}/${repo}`;
    const own = Object.hasOwn(config.repos, key) ? config.repos[key]?.quota : undefined;
    return {
      repo: own ?? config.repositories.quota,
      user: Object.hasOwn(config.users, user) ? config.users[user]?.quota : undefined,
    };
  }

  /** Closes every repository once its requests are done and writes its figures as clean. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#entries.values()].map(async (entry) => {
        await entry.host.close();
        if (entry.known) await this.#write(entry, true);
      }),
    );
  }

  #user(user: string): Promise<UserUsage> {
    let loading = this.#users.get(user);
    if (!loading) {
      loading = this.#loadUser(user);
      this.#users.set(user, loading);
      // A failed load (unreadable state folder) is tried again by the next request.
      loading.catch(() => this.#users.delete(user));
    }
    return loading;
  }

  async #loadUser(user: string): Promise<UserUsage> {
    const usage = new UserUsage(user);
    const records = await this.#records.readUser(user);
    await Promise.all(
      [...records].map(async ([repo, record]) => {
        const entry = await this.#entry(usage, repo);
        if (record.clean) {
          entry.store.usage.set(record.bytes, record.objects);
          entry.known = true;
          // From now on changes are not in the record: a crash must measure again.
          await this.#write(entry, false);
        } else await this.#measure(entry);
      }),
    );
    return usage;
  }

  async #entry(usage: UserUsage, repo: string): Promise<Entry> {
    const key = `${usage.user}/${repo}`;
    const existing = this.#entries.get(key);
    if (existing) return existing;
    const url = this.#config().repositories.backend.replaceAll("{user}", usage.user).replaceAll("{repo}", repo);
    const backend = await backendFromServerUrl(url);
    // Another request may have made it while the backend's package loaded.
    const raced = this.#entries.get(key);
    if (raced) return raced;
    // After a create or destroy through the server, the figures (now 0) are known and recorded.
    const recordLifecycle = async () => {
      entry.known = true;
      await this.#write(entry, false);
    };
    const store = new UsageLayer(backend, usage.repo(repo), () => this.limits(usage.user, repo), recordLifecycle);
    const entry: Entry = { user: usage.user, name: repo, store, host: new BackendHost(store, { waitLimitMs: this.#waitLimitMs }), known: false };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Lists the repository whole (see measure); one that does not exist (yet) stays unknown at 0. */
  #measure(entry: Entry): Promise<void> {
    entry.measuring ??= (async () => {
      try {
        const figures = await entry.host.use((b) => measure(b));
        entry.store.usage.set(figures.bytes, figures.objects);
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

  #write(entry: Entry, clean: boolean): Promise<void> {
    const { bytes, objects } = entry.store.usage;
    return this.#records.write(entry.user, entry.name, { bytes, objects, clean });
  }
}
