import type { Backend } from "../backend.js";
import { BackendAlreadyExists, BackendDoesNotExist, ObjectNotFound, isBorgStoreError } from "../errors.js";
import { resolveRange } from "../range.js";
import type { ItemInfo, LoadOptions } from "../types.js";
import { backendFromUrl } from "../url.js";
import { CacheMode, type NamespacePolicy } from "./config.js";
import { levelDirectories } from "./levels.js";
import type { StoreStats } from "./stats.js";

/** Where cache problems are reported; they never fail a Store operation. */
export interface CacheLogger {
  warn(message: string, error?: unknown): void;
}

interface PendingFill {
  stale: boolean;
}

/** A cached item found while walking the cache: full name plus what list reported. */
interface CachedItem {
  name: string;
  size: number;
  atime: number;
}

/**
 * The cache tier of spec §13.4: a second backend holding copies of chosen namespaces under the
 * primary's nested names. Every cache failure is logged and counted and then bypassed; when a
 * failure could leave a stale copy behind, the cache is disabled for the rest of the Store's life,
 * so the primary's data is never hidden or contradicted by the cache.
 */
export class CacheTier {
  #backend: Backend | undefined;
  readonly #url: string | undefined;
  #disabled = false;
  /** Loads that will copy a primary value into the cache, per nested name (see #mutating). */
  readonly #fills = new Map<string, Set<PendingFill>>();

  constructor(
    source: { url?: string; backend?: Backend },
    private readonly stats: StoreStats,
    private readonly logger: CacheLogger,
    private readonly clock: () => number,
  ) {
    this.#backend = source.backend;
    this.#url = source.url;
  }

  get disabled(): boolean {
    return this.#disabled;
  }

  get backend(): Backend | undefined {
    return this.#backend;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** A new primary is empty: anything an existing cache holds would be stale, so it is recreated. */
  async create(): Promise<void> {
    await this.#guard("create", async (cache) => {
      try {
        await cache.create();
      } catch (err) {
        if (!(err instanceof BackendAlreadyExists)) throw err;
        await cache.destroy();
        await cache.create();
      }
    });
  }

  async destroy(): Promise<void> {
    const cache = await this.#resolve();
    if (!cache) return;
    try {
      await cache.destroy();
    } catch (err) {
      if (!(err instanceof BackendDoesNotExist)) this.#failed("destroy", err); // never created: nothing to do
    }
  }

  async open(policies: readonly NamespacePolicy[]): Promise<void> {
    const opened = await this.#guard("open", (cache) => cache.open());
    if (opened) await this.cleanup(policies);
    else this.#disable();
  }

  async close(policies: readonly NamespacePolicy[]): Promise<void> {
    const cache = this.#backend;
    if (!cache?.opened) return;
    if (!this.#disabled) await this.cleanup(policies);
    try {
      await cache.close();
    } catch (err) {
      this.#failed("close", err);
    }
  }

  /** Mirrors createLevels' directories of cached namespaces. */
  async createLevels(policies: readonly NamespacePolicy[]): Promise<void> {
    await this.#guard("createLevels", async (cache) => {
      const wasOpen = cache.opened;
      if (!wasOpen) await cache.open();
      try {
        for (const policy of policies)
          if (policy.cache !== CacheMode.OFF) for (const dir of levelDirectories(policy)) await cache.mkdir(dir);
      } finally {
        if (!wasOpen) await cache.close();
      }
    });
  }

  // ---- data path --------------------------------------------------------------------------

  /**
   * Loads through the cache. `loadFull` reads the whole value from the primary (paced and counted
   * by the Store). Writethrough tries the cache first; mirror always reads the primary; both then
   * copy the whole value into the cache and return the requested slice (negative offsets included).
   */
  async load(
    key: string,
    mode: CacheMode,
    range: LoadOptions,
    loadFull: () => Promise<Uint8Array>,
  ): Promise<Uint8Array> {
    if (mode === CacheMode.WRITETHROUGH && this.#usable()) {
      const hit = await this.#tryLoad(key, range);
      if (hit) return hit;
    }
    const fill: PendingFill = { stale: false };
    const pending = this.#fills.get(key) ?? new Set();
    this.#fills.set(key, pending.add(fill));
    try {
      const full = await loadFull();
      if (!fill.stale) await this.#fill(key, full, fill);
      const { start, end } = resolveRange(range, full.byteLength);
      return start === 0 && end === full.byteLength ? full : full.subarray(start, end);
    } finally {
      pending.delete(fill);
      if (pending.size === 0 && this.#fills.get(key) === pending) this.#fills.delete(key);
    }
  }

  async #tryLoad(key: string, range: LoadOptions): Promise<Uint8Array | undefined> {
    const cache = this.#backend as Backend;
    this.stats.cacheLoadCalls += 1;
    try {
      const data = await cache.load(key, range);
      this.stats.cacheHits += 1;
      this.stats.cacheLoadVolume += data.byteLength;
      return data;
    } catch (err) {
      this.stats.cacheMisses += 1;
      if (!(err instanceof ObjectNotFound)) this.#failed(`load ${key}`, err);
      return undefined;
    }
  }

  async #fill(key: string, full: Uint8Array, fill: PendingFill): Promise<void> {
    if (!this.#usable()) return;
    const stored = await this.#put(key, full);
    // A store/delete/move of this key ran meanwhile: the copy just written may be older than it.
    if (stored && fill.stale) await this.#drop(key);
  }

  /** After the primary stored `value` at `key`. */
  async stored(key: string, value: Uint8Array): Promise<void> {
    await this.#mutating([key], async () => {
      if (!(await this.#put(key, value))) await this.#drop(key);
    });
  }

  /** After the primary deleted `key`. */
  async deleted(key: string): Promise<void> {
    await this.#mutating([key], () => this.#drop(key));
  }

  /** After the primary moved `from` to `to`. */
  async moved(from: string, to: string): Promise<void> {
    await this.#mutating([from, to], async () => {
      if (!this.#usable()) return;
      try {
        await (this.#backend as Backend).move(from, to);
      } catch (err) {
        if (err instanceof ObjectNotFound) {
          await this.#drop(to); // not cached under the old name: an older copy under the new one is stale
          return;
        }
        this.#failed(`move ${from} → ${to}`, err);
        await this.#drop(from);
        await this.#drop(to);
      }
    });
  }

  /** Removes cached copies: one key, or every item below `directory` ("" = everything). */
  async invalidate(target: { key: string } | { directory: string }): Promise<void> {
    if (!this.#usable()) return;
    if ("key" in target) {
      await this.#mutating([target.key], () => this.#drop(target.key));
      return;
    }
    let items: CachedItem[];
    try {
      items = await this.#items(target.directory);
    } catch (err) {
      this.#failed(`list ${target.directory}`, err);
      return;
    }
    for (const item of items) await this.#mutating([item.name], () => this.#drop(item.name));
  }

  /**
   * Cleanup of spec §13.4 for namespaces with maxAge or size: expired items (atime 0 or older
   * than maxAge) go first, then the least recently used until the namespace fits its size.
   */
  async cleanup(policies: readonly NamespacePolicy[]): Promise<void> {
    for (const policy of policies) {
      if (policy.cache === CacheMode.OFF || (policy.maxAge === undefined && policy.size === undefined)) continue;
      if (!this.#usable()) return;
      try {
        let items = await this.#items(policy.namespace.replace(/\/+$/, ""), policies, policy);
        if (policy.maxAge !== undefined) {
          const now = this.clock();
          const maxAge = policy.maxAge;
          const expired = items.filter((i) => i.atime === 0 || now - i.atime > maxAge);
          for (const item of expired) await this.#remove(item.name);
          items = items.filter((i) => !expired.includes(i));
        }
        if (policy.size !== undefined) {
          items.sort((a, b) => a.atime - b.atime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
          let total = items.reduce((sum, i) => sum + i.size, 0);
          for (const item of items) {
            if (total <= policy.size) break;
            await this.#remove(item.name);
            total -= item.size;
          }
        }
      } catch (err) {
        this.#failed(`cleanup of ${policy.namespace}`, err);
      }
    }
  }

  // ---- plumbing ---------------------------------------------------------------------------

  #usable(): boolean {
    return !this.#disabled && this.#backend !== undefined && this.#backend.opened;
  }

  /**
   * Runs a cache update of `keys` so that a load copying an older primary value into the cache
   * at the same time cannot leave that older value behind (see load / #fill).
   */
  async #mutating(keys: readonly string[], work: () => Promise<void>): Promise<void> {
    const markStale = () => {
      for (const key of keys) for (const fill of this.#fills.get(key) ?? []) fill.stale = true;
    };
    markStale();
    try {
      await work();
    } finally {
      markStale();
    }
  }

  /** Stores a copy; false when that failed (the old copy may still be there). */
  async #put(key: string, value: Uint8Array): Promise<boolean> {
    if (!this.#usable()) return false;
    this.stats.cacheStoreCalls += 1;
    try {
      await (this.#backend as Backend).store(key, value);
      this.stats.cacheStoreVolume += value.byteLength;
      return true;
    } catch (err) {
      this.#failed(`store ${key}`, err);
      return false;
    }
  }

  /** Deletes a copy that must not survive; if that fails, the whole cache is switched off. */
  async #drop(key: string): Promise<void> {
    if (!this.#usable()) return;
    this.stats.cacheDeleteCalls += 1;
    try {
      await (this.#backend as Backend).delete(key);
    } catch (err) {
      if (err instanceof ObjectNotFound) return;
      this.#failed(`delete ${key}`, err);
      this.#disable();
    }
  }

  /** Cleanup's delete: a failure there leaves a valid copy, so it is only counted. */
  async #remove(key: string): Promise<void> {
    this.stats.cacheDeleteCalls += 1;
    try {
      await (this.#backend as Backend).delete(key);
    } catch (err) {
      if (!(err instanceof ObjectNotFound)) this.#failed(`delete ${key}`, err);
    }
  }

  /**
   * Every cached item below `directory`, recursively. With `policy`, items that belong to a more
   * specific namespace (e.g. "data/x" inside "data/") are left to that namespace's own policy.
   */
  async #items(directory: string, policies?: readonly NamespacePolicy[], policy?: NamespacePolicy): Promise<CachedItem[]> {
    const cache = this.#backend as Backend;
    const out: CachedItem[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: ItemInfo[];
      try {
        entries = [];
        for await (const info of cache.list(dir)) entries.push(info);
      } catch (err) {
        if (err instanceof ObjectNotFound && dir === directory) return; // namespace not cached yet
        throw err;
      }
      for (const info of entries) {
        const name = dir ? `${dir}/${info.name}` : info.name;
        if (info.directory) await walk(name);
        else if (!policy || ownPolicy(policies ?? [], name) === policy)
          out.push({ name, size: info.size, atime: info.atime });
      }
    };
    await walk(directory);
    return out;
  }

  async #resolve(): Promise<Backend | undefined> {
    if (this.#backend || this.#url === undefined) return this.#backend;
    try {
      this.#backend = await backendFromUrl(this.#url);
    } catch (err) {
      this.#failed(`resolving the cache URL`, err);
      this.#disable();
    }
    return this.#backend;
  }

  /** Runs a lifecycle step; on failure logs, counts and disables the cache. True on success. */
  async #guard(what: string, step: (cache: Backend) => Promise<void>): Promise<boolean> {
    if (this.#disabled) return false;
    const cache = await this.#resolve();
    if (!cache || this.#disabled) return false;
    try {
      await step(cache);
      return true;
    } catch (err) {
      this.#failed(what, err);
      this.#disable();
      return false;
    }
  }

  #failed(what: string, err: unknown): void {
    this.stats.cacheErrors += 1;
    const code = isBorgStoreError(err) ? ` [${err.code}]` : "";
    this.logger.warn(`borgstore cache: ${what} failed${code}: ${err instanceof Error ? err.message : String(err)}`, err);
  }

  #disable(): void {
    if (this.#disabled) return;
    this.#disabled = true;
    this.stats.cacheDisabled = true;
    this.logger.warn("borgstore cache: disabled for the rest of this Store's life; the primary serves everything");
  }
}

/** The policy owning `name`: the longest namespace prefix (policies are ordered longest first). */
function ownPolicy(policies: readonly NamespacePolicy[], name: string): NamespacePolicy | undefined {
  return policies.find((p) => name.startsWith(p.namespace));
}
