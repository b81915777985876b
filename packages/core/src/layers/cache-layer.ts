import { KeyedQueue } from "../backend-kit/keyed-queue.js";
import { sizedBytes } from "../byte-source.js";
import type { Backend } from "../backend.js";
import { BackendAlreadyExists, BackendDoesNotExist, ObjectNotFound, isBorgStoreError } from "../errors.js";
import type { CheckedDefragSources } from "../defrag.js";
import { resolveRange } from "../range.js";
import { CacheMode } from "../store/config.js";
import type { BufferLoadOptions, ByteSource, DefragOptions, ItemInfo, LoadOptions, OperationOptions, SizedByteSource, StoreStreamOptions } from "../types.js";
import { BackendLayer } from "./backend-layer.js";

/** Where cache problems are reported; they never fail an operation. */
export interface CacheLogger {
  /** Reports one cache failure (or the cache being switched off). */
  warn(message: string, error?: unknown): void;
}

/** How one namespace (a prefix of backend names) is cached, and when its copies are evicted. */
export interface CachePolicy {
  /** Prefix of the names this policy applies to ("" = everything). */
  readonly namespace: string;
  /** Cache mode of these names. */
  readonly cache: CacheMode;
  /** Copies not accessed for this many seconds are removed at open and close. */
  readonly maxAge?: number | undefined;
  /** Byte budget of this namespace in the cache; the least recently used copies go first at open and close. */
  readonly size?: number | undefined;
}

/** Options of `new CacheLayer(primary, ...)`. */
export interface CacheLayerOptions {
  /**
   * The cache backend, or a function resolving it at the first create, destroy or open (when it
   * fails the cache is disabled).
   */
  cache: Backend | (() => Promise<Backend>);
  /** Cached namespaces with their eviction limits; default: everything writethrough, nothing evicted. */
  policies?: readonly CachePolicy[] | (() => readonly CachePolicy[]);
  /** The mode of a backend name; default: the policy of the longest namespace the name starts with, off without one. */
  modeOf?: (name: string) => CacheMode;
  /** Where cache failures are reported; default: console. */
  logger?: CacheLogger;
  /** Current time in seconds, for maxAge; default: the system clock. */
  clock?: () => number;
}

/** What the cache did: its own figures (the calls to the cache backend are counted by wrapping it in a CountingLayer). */
export interface CacheLayerStats {
  /** True once the cache failed and was switched off. */
  readonly disabled: boolean;
  /** Loads served from the cache. */
  readonly hits: number;
  /** Writethrough loads the cache could not serve. */
  readonly misses: number;
  /** Cache failures (logged, never failing an operation). */
  readonly errors: number;
}

/** A load that may copy the primary value it read into the cache (see #mutating). */
interface PendingFill {
  /** Set when a change or an invalidation of its name ran meanwhile: the value it read may be older than the primary's. */
  stale: boolean;
  /** Set the moment its copy is written (stale checked in the same step); settles once written and, if stale by then, dropped again. */
  writing?: Promise<void>;
}

/** A cached item found while walking the cache: full name plus what list reported. */
interface CachedItem {
  name: string;
  size: number;
  atime: number;
}

const EVERYTHING: readonly CachePolicy[] = [{ namespace: "", cache: CacheMode.WRITETHROUGH }];

/**
 * The cache tier (core README: Cache tier) as a layer: a second backend holding copies of the primary's
 * values under the same names. Mirror copies every loaded value and always reads the primary;
 * writethrough also copies every stored value and serves loads from the cache when it can. Every
 * cache failure is logged and counted and then bypassed; when a failure could leave a stale copy
 * behind, the cache is disabled for the rest of the layer's life, so the primary's data is never
 * hidden or contradicted by the cache. Expired and least recently used copies are evicted at open
 * and close, per policy.
 */
export class CacheLayer extends BackendLayer {
  #cache: Backend | undefined;
  readonly #resolveCache: (() => Promise<Backend>) | undefined;
  readonly #policies: () => readonly CachePolicy[];
  readonly #modeOf: (name: string) => CacheMode;
  readonly #logger: CacheLogger;
  readonly #clock: () => number;
  #disabled = false;
  #hits = 0;
  #misses = 0;
  #errors = 0;
  /** Loads that will copy a primary value into the cache, per name (see #mutating). */
  readonly #fills = new Map<string, Set<PendingFill>>();
  /**
   * Changes of cached names (primary, then cache), one after another per name in the order they
   * were called: two changes of one name running at once could reach the primary in one order and
   * the cache in the other, leaving a copy the primary no longer holds.
   */
  readonly #changes = new KeyedQueue();

  constructor(primary: Backend, options: CacheLayerOptions) {
    super(primary);
    if (typeof options.cache === "function") this.#resolveCache = options.cache;
    else this.#cache = options.cache;
    const policies = options.policies ?? EVERYTHING;
    if (typeof policies === "function") this.#policies = policies;
    else {
      const sorted = [...policies].sort((a, b) => b.namespace.length - a.namespace.length);
      this.#policies = () => sorted;
    }
    this.#modeOf = options.modeOf ?? ((name) => ownPolicy(this.#policies(), name)?.cache ?? CacheMode.OFF);
    this.#logger = options.logger ?? console;
    this.#clock = options.clock ?? (() => Date.now() / 1000);
  }

  /** The cache backend, once given or resolved. */
  get cache(): Backend | undefined {
    return this.#cache;
  }

  /** The cache's own figures so far. */
  get stats(): CacheLayerStats {
    return { disabled: this.#disabled, hits: this.#hits, misses: this.#misses, errors: this.#errors };
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** A new primary is empty: anything an existing cache holds would be stale, so it is recreated. */
  protected override async _create(): Promise<void> {
    await this.inner.create();
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

  protected override async _destroy(): Promise<void> {
    await this.inner.destroy();
    const cache = await this.#resolve();
    if (!cache) return;
    try {
      await cache.destroy();
    } catch (err) {
      if (!(err instanceof BackendDoesNotExist)) this.#failed("destroy", err); // never created: nothing to do
    }
  }

  /** Opens the primary, then the cache (a cache that fails to open is disabled) and evicts per policy. */
  protected override async _open(): Promise<void> {
    await this.inner.open();
    const opened = await this.#guard("open", (cache) => cache.open());
    if (opened) await this.cleanup();
    else this.#disable();
  }

  /** Closes the primary, then evicts per policy and closes the cache (cache errors are only logged). */
  protected override async _close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      await this.#closeCache();
    }
  }

  async #closeCache(): Promise<void> {
    const cache = this.#cache;
    if (!cache?.opened) return;
    if (!this.#disabled) await this.cleanup();
    try {
      await cache.close();
    } catch (err) {
      this.#failed("close", err);
    }
  }

  /** Creates `directories` in the cache (opening it for the time if it is closed); a failure disables the cache. */
  async mkdirInCache(directories: Iterable<string>): Promise<void> {
    await this.#guard("createLevels", async (cache) => {
      const wasOpen = cache.opened;
      if (!wasOpen) await cache.open();
      try {
        for (const dir of directories) await cache.mkdir(dir);
      } finally {
        if (!wasOpen) await cache.close();
      }
    });
  }

  // ---- data path --------------------------------------------------------------------------

  /**
   * Writethrough tries the cache first; mirror always reads the primary; both then copy the
   * whole value into the cache and return the requested slice (negative offsets included).
   */
  protected override async _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    const mode = this.#modeOf(name);
    if (mode === CacheMode.OFF) return this.inner.load(name, options);
    const range = { offset: options.offset, size: options.size };
    if (mode === CacheMode.WRITETHROUGH && this.#usable()) {
      const hit = await this.#tryLoad(name, range);
      if (hit) return hit;
    }
    const fill: PendingFill = { stale: false };
    const pending = this.#fills.get(name) ?? new Set();
    this.#fills.set(name, pending.add(fill));
    try {
      const full = await this.inner.load(name, { signal: options.signal });
      // Checked and marked writing in one synchronous step: a change or invalidation either sees
      // this copy being written (and waits for it) or makes it skip the write.
      if (!fill.stale && this.#usable()) {
        fill.writing = this.#fill(name, full, fill);
        await fill.writing;
      }
      const { start, end } = resolveRange(range, full.byteLength);
      return start === 0 && end === full.byteLength ? full : full.subarray(start, end);
    } finally {
      pending.delete(fill);
      if (pending.size === 0 && this.#fills.get(name) === pending) this.#fills.delete(name);
    }
  }

  /** A cached name is loaded whole (to fill the cache) and handed out as one chunk. */
  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    if (this.#modeOf(name) === CacheMode.OFF) return this.inner.loadStream(name, options);
    return sizedBytes(await this._load(name, options));
  }

  protected override async _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    if (this.#modeOf(name) === CacheMode.OFF) return this.inner.store(name, value, options);
    await this.#changes.run(name, async () => {
      await this.inner.store(name, value, options);
      await this.#mutating([name], async () => {
        if (!(await this.#put(name, value))) await this.#drop(name);
      });
    });
  }

  /** The value was never whole in memory: the cached copy is dropped, the next load fills it. */
  protected override async _storeStream(name: string, source: ByteSource, options?: StoreStreamOptions): Promise<void> {
    if (this.#modeOf(name) === CacheMode.OFF) return this.inner.storeStream(name, source, options);
    await this.#changes.run(name, async () => {
      await this.inner.storeStream(name, source, options);
      await this.invalidate({ key: name });
    });
  }

  /** A defrag writes its target in the primary, in its turn with the other changes of that name; the older copy is dropped. */
  protected override async _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    if (options.target) return this.changeInPrimary(options.target, () => super._defrag(sources, options));
    const target = await super._defrag(sources, options);
    await this.changedInPrimary(target);
    return target;
  }

  protected override async _delete(name: string, options?: OperationOptions): Promise<void> {
    if (this.#modeOf(name) === CacheMode.OFF) return this.inner.delete(name, options);
    await this.#changes.run(name, async () => {
      await this.inner.delete(name, options);
      await this.#mutating([name], () => this.#drop(name));
    });
  }

  /** Keeps the cache right when a move may cross from a cached namespace to an uncached one or back. */
  protected override async _move(from: string, to: string, options?: OperationOptions): Promise<void> {
    const fromCached = this.#modeOf(from) !== CacheMode.OFF;
    const toCached = this.#modeOf(to) !== CacheMode.OFF;
    if (this.#holdsCachedNamespace(from)) {
      // A directory above cached namespaces moved (a Store never does this): its copies go too.
      await this.inner.move(from, to, options);
      await this.invalidate({ directory: from });
      return;
    }
    if (!fromCached && !toCached) return this.inner.move(from, to, options);
    await this.#changes.runAll([from, to], async () => {
      await this.inner.move(from, to, options);
      if (fromCached && toCached) await this.#moved(from, to);
      else if (fromCached) await this.#mutating([from], () => this.#drop(from));
      else await this.invalidate({ key: to });
    });
  }

  /** True when `name` is a directory above a cached namespace ("ns" for "ns/"). */
  #holdsCachedNamespace(name: string): boolean {
    return this.#policies().some((p) => p.cache !== CacheMode.OFF && p.namespace.startsWith(`${name}/`));
  }

  async #moved(from: string, to: string): Promise<void> {
    await this.#mutating([from, to], async () => {
      if (!this.#usable()) return;
      try {
        await (this.#cache as Backend).move(from, to);
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

  async #tryLoad(name: string, range: LoadOptions): Promise<Uint8Array | undefined> {
    try {
      const data = await (this.#cache as Backend).load(name, range);
      this.#hits += 1;
      return data;
    } catch (err) {
      this.#misses += 1;
      if (!(err instanceof ObjectNotFound)) this.#failed(`load ${name}`, err);
      return undefined;
    }
  }

  async #fill(name: string, full: Uint8Array, fill: PendingFill): Promise<void> {
    const stored = await this.#put(name, full);
    // A change or invalidation of this name ran while it was written: the copy may be older than the primary's value.
    if (stored && fill.stale) await this.#drop(name);
  }

  // ---- invalidation and eviction ------------------------------------------------------------

  /**
   * Removes cached copies (never primary data): one name, or every item below `directory` ("" =
   * everything). Loads under way that read the primary before this call do not copy what they
   * read into the cache after it: a value changed in the primary behind this layer's back, then
   * invalidated here, is read afresh by the next load. While the cache is closed (so is the layer),
   * it is opened for the time: a copy left there would be served once the layer is open again.
   */
  async invalidate(target: { key: string } | { directory: string }): Promise<void> {
    if (this.#disabled) return;
    const cache = await this.#resolve();
    if (!cache || this.#disabled) return;
    if (cache.opened) return this.#invalidate(target);
    await this.#guard("invalidate", async () => {
      await cache.open();
      try {
        await this.#invalidate(target);
      } finally {
        await cache.close();
      }
    });
  }

  async #invalidate(target: { key: string } | { directory: string }): Promise<void> {
    if ("key" in target) {
      await this.#mutating([target.key], () => this.#drop(target.key));
      return;
    }
    const { directory } = target;
    await this.#mutating(new Below(directory), async () => {
      let items: CachedItem[];
      try {
        items = await this.#items(directory);
      } catch (err) {
        // Copies that cannot be found cannot be dropped, and may be stale.
        this.#failed(`list ${directory}`, err);
        this.#disable();
        return;
      }
      for (const item of items) await this.#drop(item.name);
    });
  }

  /**
   * Runs `write`, a change of `name` made in the primary without this layer (a Store's defrag
   * writes its target in the primary itself), in that name's turn with this layer's own changes of
   * it, then drops the cached copy: a store of the name overlapping it cannot leave its copy behind.
   */
  async changeInPrimary<T>(name: string, write: () => Promise<T>): Promise<T> {
    if (this.#modeOf(name) === CacheMode.OFF) return write();
    return this.#changes.run(name, async () => {
      const result = await write();
      await this.#mutating([name], () => this.#drop(name));
      return result;
    });
  }

  /**
   * Drops the cached copy of `name`, changed in the primary without this layer, in that name's
   * turn: after the changes of it queued before, whose copies could otherwise land after the drop.
   * For a change whose name was not known before it was made (a digest-named defrag target).
   */
  async changedInPrimary(name: string): Promise<void> {
    await this.changeInPrimary(name, async () => undefined);
  }

  /**
   * Cleanup (core README: Cache tier) for policies with maxAge or size: expired copies (atime 0 or older
   * than maxAge) go first, then the least recently used until the namespace fits its size.
   * Runs at open and close.
   */
  async cleanup(): Promise<void> {
    const policies = this.#policies();
    for (const policy of policies) {
      if (policy.cache === CacheMode.OFF || (policy.maxAge === undefined && policy.size === undefined)) continue;
      if (!this.#usable()) return;
      try {
        let items = await this.#items(policy.namespace.replace(/\/+$/, ""), policies, policy);
        if (policy.maxAge !== undefined) {
          const now = this.#clock();
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
    return !this.#disabled && this.#cache !== undefined && this.#cache.opened;
  }

  /**
   * Runs a cache update of `names` (or of the names below a directory) so that a load copying an
   * older primary value into the cache at the same time cannot leave that older value behind (see
   * _load / #fill): loads still reading are marked to skip their copy, and this returns only once
   * the copies already being written are written and dropped again (until then one may be in the
   * cache for a moment).
   */
  async #mutating(names: readonly string[] | Below, work: () => Promise<void>): Promise<void> {
    const writing = new Set<Promise<void>>();
    const markStale = () => {
      for (const fill of this.#fillsOf(names)) {
        fill.stale = true;
        if (fill.writing) writing.add(fill.writing);
      }
    };
    markStale();
    try {
      await work();
    } finally {
      markStale();
    }
    await Promise.all(writing);
  }

  *#fillsOf(names: readonly string[] | Below): Iterable<PendingFill> {
    if (names instanceof Below) {
      for (const [name, fills] of this.#fills) if (names.holds(name)) yield* fills;
    } else for (const name of names) yield* this.#fills.get(name) ?? [];
  }

  /** Stores a copy; false when that failed (the old copy may still be there). */
  async #put(name: string, value: Uint8Array): Promise<boolean> {
    if (!this.#usable()) return false;
    try {
      await (this.#cache as Backend).store(name, value);
      return true;
    } catch (err) {
      this.#failed(`store ${name}`, err);
      return false;
    }
  }

  /** Deletes a copy that must not survive; if that fails, the whole cache is switched off. */
  async #drop(name: string): Promise<void> {
    if (!this.#usable()) return;
    try {
      await (this.#cache as Backend).delete(name);
    } catch (err) {
      if (err instanceof ObjectNotFound) return;
      this.#failed(`delete ${name}`, err);
      this.#disable();
    }
  }

  /** Cleanup's delete: a failure there leaves a valid copy, so it is only counted. */
  async #remove(name: string): Promise<void> {
    try {
      await (this.#cache as Backend).delete(name);
    } catch (err) {
      if (!(err instanceof ObjectNotFound)) this.#failed(`delete ${name}`, err);
    }
  }

  /**
   * Every cached item below `directory`, recursively. With `policy`, items that belong to a more
   * specific namespace (e.g. "data/x" inside "data/") are left to that namespace's own policy.
   */
  async #items(directory: string, policies?: readonly CachePolicy[], policy?: CachePolicy): Promise<CachedItem[]> {
    const cache = this.#cache as Backend;
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
        else if (!policy || ownPolicy(policies ?? [], name) === policy) out.push({ name, size: info.size, atime: info.atime });
      }
    };
    await walk(directory);
    return out;
  }

  async #resolve(): Promise<Backend | undefined> {
    if (this.#cache || !this.#resolveCache) return this.#cache;
    try {
      this.#cache = await this.#resolveCache();
    } catch (err) {
      this.#failed("resolving the cache URL", err);
      this.#disable();
    }
    return this.#cache;
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
    this.#errors += 1;
    const code = isBorgStoreError(err) ? ` [${err.code}]` : "";
    this.#logger.warn(`borgstore cache: ${what} failed${code}: ${err instanceof Error ? err.message : String(err)}`, err);
  }

  #disable(): void {
    if (this.#disabled) return;
    this.#disabled = true;
    this.#logger.warn("borgstore cache: disabled for the rest of this Store's life; the primary serves everything");
  }
}

/** The names below a directory ("" = every name). */
class Below {
  readonly #prefix: string;
  constructor(directory: string) {
    this.#prefix = directory ? `${directory}/` : "";
  }
  holds(name: string): boolean {
    return name.startsWith(this.#prefix);
  }
}

/** The policy owning `name`: the longest namespace prefix (policies are ordered longest first). */
function ownPolicy(policies: readonly CachePolicy[], name: string): CachePolicy | undefined {
  return policies.find((p) => name.startsWith(p.namespace));
}
