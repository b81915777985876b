import { abortable, throwIfAborted } from "../abort.js";
import { asBytes, observedSource, sizedBytes } from "../byte-source.js";
import type { Backend, StorableValue } from "../backend.js";
import { BackendMustBeOpen, InvalidArgument, NoBackendGiven } from "../errors.js";
import { checkHashAlgorithm } from "../hashing.js";
import type { HashAlgorithm } from "../hash-algorithm.js";
import { DEL_SUFFIX } from "../names.js";
import { nest, splitKey } from "../nesting.js";
import { validateLoadOptions } from "../range.js";
import type { BufferLoadOptions, ByteSource, DefragSource, ItemInfo, OperationOptions, Permissions, QuotaInfo, SizedByteSource, StoreStreamOptions } from "../types.js";
import { backendFromUrl, redactUrl } from "../url.js";
import { CacheMode, type NamespaceConfig, type NamespacePolicy, type StoreConfig, checkLevels, parseStoreConfig, policyFor } from "./config.js";
import { type CacheLogger, CacheTier } from "./cache.js";
import { Emulation } from "./emulation.js";
import { levelDirectories } from "./levels.js";
import { StoreStats, type StoreStatsSnapshot, type TimedOperation } from "./stats.js";

/** Options of `new Store(...)`: where the data lives (`url` or `backend`), the namespace config, an optional cache tier and emulation settings. */
export interface StoreOptions {
  /** Backend URL, resolved on the first create/destroy/open (or use Store.fromUrl to resolve now). */
  url?: string;
  /** A backend instance; wins over `url`. */
  backend?: Backend;
  /** Namespace prefix → configuration. */
  config: StoreConfig;
  /** Passed to URL resolution (enforced by core for every backend). */
  permissions?: Permissions;
  /** Cache backend URL (see the cache tier); resolved like `url`. */
  cacheUrl?: string;
  /** Cache backend instance; giving both cacheUrl and cacheBackend is an error. */
  cacheBackend?: Backend;
  /** Emulated latency per primary call in µs; default: BORGSTORE_LATENCY at construction. */
  latency?: number;
  /** Emulated bandwidth in bit/s; default: BORGSTORE_BANDWIDTH at construction. */
  bandwidth?: number;
  /** Where cache failures are reported (they never fail an operation); default: console. */
  logger?: CacheLogger;
  /** Current time in seconds, for the cache's max_age; default: the system clock. */
  clock?: () => number;
  /**
   * How many entries list() reads ahead of the caller; the nesting directories among them are
   * listed meanwhile, concurrently. Default 16; 1 lists one directory at a time, as the reference.
   */
  listReadAhead?: number;
}

/** Options of operations that look up an item by key. */
export interface FindOptions extends OperationOptions {
  /** Look for the soft-deleted item (name + ".del"). */
  deleted?: boolean;
}

/** Options of Store.load: which part of the value, as in Backend.load. */
export interface StoreLoadOptions extends FindOptions {
  /** First byte to load; negative counts from the end. Default 0. */
  offset?: number;
  /** Number of bytes to load; undefined loads to the end. */
  size?: number;
  /** As in Backend.load: a buffer the primary backend may read the bytes into (not with a cache). */
  into?: Uint8Array;
}

/** Options of Store.move: exactly one kind of move (soft delete, undelete, level change or rename). */
export interface MoveOptions extends OperationOptions {
  /** Target name of a generic move (required unless delete / undelete / changeLevel). */
  newName?: string;
  /** Soft delete: rename to name + ".del". Wins over every other option. */
  delete?: boolean;
  /** Undo a soft delete. Wins over changeLevel and newName. */
  undelete?: boolean;
  /** Move the item to the namespace's last (current) nesting level. Wins over newName. */
  changeLevel?: boolean;
  /** Operate on the soft-deleted item (changeLevel and generic moves). */
  deleted?: boolean;
}

/** Options of Store.hash. */
export interface HashOptions extends FindOptions {
  /** Default sha256. */
  algorithm?: HashAlgorithm;
}

/** Options of Store.defrag. */
export interface StoreDefragOptions extends FindOptions {
  /** Key (without namespace) of the result; default: its digest with `algorithm`. */
  target?: string;
  /** Hash algorithm whose digest names the result when no target is given. */
  algorithm?: HashAlgorithm;
  /** Namespace of the sources and of the result. */
  namespace?: string;
}

/**
 * A key/value store over a Backend: per-namespace nesting levels, soft delete, recursive sorted
 * listing, statistics and latency/bandwidth emulation (spec §13).
 */
export class Store {
  /** The backend URL this store was made with, if any. */
  readonly url: string | undefined;
  #backend: Backend | undefined;
  #resolving: Promise<Backend> | undefined;
  readonly #permissions: Permissions | undefined;
  #policies: NamespacePolicy[];
  readonly #stats = new StoreStats();
  readonly #emulation: Emulation;
  readonly #cache: CacheTier | undefined;
  readonly #listReadAhead: number;

  constructor(options: StoreOptions) {
    const { url, backend, config, cacheUrl, cacheBackend } = options;
    if (!backend && url === undefined) throw new NoBackendGiven("You need to give a backend instance or a backend url.");
    this.url = url;
    this.#backend = backend;
    this.#permissions = options.permissions;
    this.#policies = parseStoreConfig(config);
    if (cacheUrl !== undefined && cacheBackend !== undefined)
      throw new InvalidArgument("Give either cacheUrl or cacheBackend, not both.");
    const cached = this.#policies.filter((p) => p.cache !== CacheMode.OFF);
    if (cached.length > 0 && cacheUrl === undefined && cacheBackend === undefined)
      throw new InvalidArgument(
        `Cache mode ${cached[0]?.cache} for namespace '${cached[0]?.namespace}' needs a cacheUrl or cacheBackend.`,
      );
    if (cacheUrl !== undefined || cacheBackend !== undefined)
      this.#cache = new CacheTier(
        { url: cacheUrl, backend: cacheBackend },
        this.#stats,
        options.logger ?? console,
        options.clock ?? (() => Date.now() / 1000),
      );
    const readAhead = options.listReadAhead ?? 16;
    if (!Number.isSafeInteger(readAhead) || readAhead < 1)
      throw new InvalidArgument(`listReadAhead must be an integer >= 1, but got: ${readAhead}`);
    this.#listReadAhead = readAhead;
    const fromEnv = Emulation.fromEnv();
    this.#emulation = new Emulation(
      options.latency ?? fromEnv.latency * 1e6,
      options.bandwidth ?? fromEnv.bandwidth * 8,
    );
  }

  /** A Store whose URL is resolved now, so a bad URL or a missing backend package fails here. */
  static async fromUrl(url: string, options: Omit<StoreOptions, "url" | "backend"> = {} as Omit<StoreOptions, "url" | "backend">): Promise<Store> {
    const backend = await backendFromUrl(url, { permissions: options.permissions });
    return new Store({ ...options, url, backend });
  }

  /** The primary backend, once given or resolved. */
  get backend(): Backend | undefined {
    return this.#backend;
  }

  /** The cache backend, once given or resolved. */
  get cacheBackend(): Backend | undefined {
    return this.#cache?.backend;
  }

  /** The validated namespace configurations, longest namespace first. */
  get policies(): readonly NamespacePolicy[] {
    return this.#policies;
  }

  /** The reference's statistics, every key always present, every time in seconds. */
  get stats(): StoreStatsSnapshot {
    return this.#stats.snapshot();
  }

  // ---- configuration ----------------------------------------------------------------------

  /**
   * Replaces the nesting levels (cache policies of namespaces that stay are kept); with
   * `create`, runs createLevels.
   */
  async setLevels(levels: Readonly<Record<string, readonly number[] | NamespaceConfig>>, create = false): Promise<void> {
    if (levels === null || typeof levels !== "object" || Object.keys(levels).length === 0)
      throw new InvalidArgument("No or invalid levels configuration given.");
    const next = Object.entries(levels).map(([namespace, value]): NamespacePolicy => {
      const list = checkLevels(namespace, Array.isArray(value) ? value : (value as NamespaceConfig).levels);
      const old = this.#policies.find((p) => p.namespace === namespace);
      return old ? { ...old, levels: list } : { namespace, levels: list, cache: CacheMode.OFF, maxAge: undefined, size: undefined };
    });
    this.#policies = next.sort((a, b) => b.namespace.length - a.namespace.length);
    if (create) await this.createLevels();
  }

  /** Creates every namespace directory (and the deepest nesting directories) up front; opens the backend when closed. */
  async createLevels(): Promise<void> {
    const backend = await this.#resolve();
    const wasOpen = backend.opened;
    if (!wasOpen) await backend.open();
    try {
      for (const policy of this.#policies) for (const dir of levelDirectories(policy)) await backend.mkdir(dir);
    } finally {
      if (!wasOpen) await backend.close();
    }
    await this.#cache?.createLevels(this.#policies);
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Creates the backend's storage (and the cache's); BackendAlreadyExists if it exists. */
  async create(): Promise<void> {
    const backend = await this.#resolve();
    await backend.create();
    await this.#cache?.create();
    if (backend.precreateDirs) await this.createLevels();
  }

  /** Deletes the backend's storage and everything in it (and the cache's); the store must be closed. */
  async destroy(): Promise<void> {
    const backend = await this.#resolve();
    await backend.destroy();
    await this.#cache?.destroy();
  }

  /** Opens the backend, then the cache (a cache that fails to open is disabled) and cleans the cache up. */
  async open(): Promise<void> {
    const backend = await this.#resolve();
    await backend.open();
    await this.#cache?.open(this.#policies);
  }

  /** Closes the backend, then cleans the cache up and closes it (cache errors are only logged). */
  async close(): Promise<void> {
    try {
      await this.#require().close();
    } finally {
      await this.#cache?.close(this.#policies);
    }
  }

  /** What `console.log(store)` and `util.inspect` show: the URL without its credentials. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Store { url: ${this.url === undefined ? "undefined" : JSON.stringify(redactUrl(this.url))} }`;
  }

  /** What `JSON.stringify(store)` writes: the URL without its credentials. */
  toJSON(): {
    /** The store's URL without its credentials. */
    url: string | undefined;
  } {
    return { url: this.url === undefined ? undefined : redactUrl(this.url) };
  }

  /** For `await using store = …`: closes the store if it is still open. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#backend?.opened) await this.close();
  }

  // ---- names ------------------------------------------------------------------------------

  /** Where `name` is, without a look-up, when its namespace has one level (else undefined: find() searches). */
  #nestedOnlyLevel(name: string, options: FindOptions): string | undefined {
    const levels = policyFor(this.#policies, name).levels;
    if (levels.length !== 1) return undefined;
    return nest(name, levels[0] as number, options.deleted ? DEL_SUFFIX : undefined);
  }

  /**
   * The nested backend name of `name`: with one level pure computation; with several, the first
   * level where the item exists, else the last level (where new items go).
   */
  async find(name: string, options: FindOptions = {}): Promise<string> {
    const only = this.#nestedOnlyLevel(name, options);
    if (only !== undefined) return only;
    const levels = policyFor(this.#policies, name).levels;
    const suffix = options.deleted ? DEL_SUFFIX : undefined;
    const backend = this.#require();
    let nested = "";
    for (const level of levels) {
      nested = nest(name, level, suffix);
      if ((await backend.info(nested, { signal: options.signal })).exists) break;
    }
    return nested;
  }

  // ---- operations -------------------------------------------------------------------------

  /** Size, type and access time of the item `name`, looked up in its namespace's nesting levels; `exists: false` if missing. */
  async info(name: string, options: FindOptions = {}): Promise<ItemInfo> {
    return this.#timed("info", async () => {
      const nested = await this.find(name, options);
      return this.#paced(0, () => this.#require().info(nested, { signal: options.signal }));
    });
  }

  /** The value of `name`, or the `offset`/`size` part of it; ObjectNotFound if missing. */
  async load(name: string, options: StoreLoadOptions = {}): Promise<Uint8Array> {
    return this.#timed("load", async () => {
      const nested = this.#nestedOnlyLevel(name, options) ?? (await this.find(name, options));
      const range = { offset: options.offset, size: options.size };
      validateLoadOptions(range); // before the cache sees it: a bad range is the caller's error, not a cache failure
      const mode = this.#cacheMode(name);
      const { signal, into } = options;
      const data =
        mode === CacheMode.OFF
          ? await this.#primaryLoad(nested, { ...range, signal, into })
          : await (this.#cache as CacheTier).load(nested, mode, range, () => this.#primaryLoad(nested, { signal }));
      this.#stats.loadVolume += data.byteLength;
      return data;
    });
  }

  async #primaryLoad(nested: string, options: BufferLoadOptions): Promise<Uint8Array> {
    const load = () => this.#require().load(nested, options);
    const data = await (this.#emulation.active ? this.#pacedVolume(load) : load());
    this.#stats.backendLoadCalls += 1;
    this.#stats.backendLoadVolume += data.byteLength;
    return data;
  }

  /**
   * Like load, as a stream (for big values). Counted as a load; emulation applies the latency
   * only, as the volume is not known up front.
   */
  async loadStream(name: string, options: StoreLoadOptions = {}): Promise<SizedByteSource> {
    if (this.#cacheMode(name) !== CacheMode.OFF) return sizedBytes(await this.load(name, options));
    return this.#timed("load", async () => {
      const nested = await this.find(name, options);
      const range = { offset: options.offset, size: options.size, signal: options.signal };
      const source = await this.#paced(0, () => this.#require().loadStream(nested, range));
      this.#stats.backendLoadCalls += 1;
      return this.#countLoaded(source);
    });
  }

  /** Stores `value` under `name`: an existing item is overwritten where it is, a new one goes to the last level. */
  async store(name: string, value: StorableValue, options: OperationOptions = {}): Promise<void> {
    const bytes = asBytes(value);
    await this.#timed("store", async () => {
      const nested = await this.find(name, { signal: options.signal });
      await this.#paced(bytes.byteLength, () => this.#require().store(nested, bytes, options));
      this.#countStored(bytes.byteLength);
      if (this.#cacheMode(name) !== CacheMode.OFF) await this.#cache?.stored(nested, bytes);
    });
  }

  /** Like store, from a stream; with options.size/sha256 a mismatch stores nothing. */
  async storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    await this.#timed("store", async () => {
      const nested = await this.find(name, { signal: options.signal });
      let volume = 0;
      const counted = async function* () {
        for await (const chunk of source) {
          volume += chunk.byteLength;
          yield chunk;
        }
      };
      const start = performance.now();
      await this.#require().storeStream(nested, counted(), options);
      await this.#emulation.pace(start, volume);
      this.#countStored(volume);
      // The value was never whole in memory: drop the cached copy, the next load fills it.
      if (this.#cacheMode(name) !== CacheMode.OFF) await this.#cache?.invalidate({ key: nested });
    });
  }

  /** Deletes the item for good (see move with `delete: true` for a soft delete). */
  async delete(name: string, options: FindOptions = {}): Promise<void> {
    await this.#timed("delete", async () => {
      const nested = await this.find(name, options);
      await this.#paced(0, () => this.#require().delete(nested, { signal: options.signal }));
      this.#stats.backendDeleteCalls += 1;
      if (this.#cacheMode(name) !== CacheMode.OFF) await this.#cache?.deleted(nested);
    });
  }

  /**
   * Soft delete, undelete, change of nesting level or a generic rename, in that order of
   * precedence when several options are given.
   */
  async move(name: string, options: MoveOptions = {}): Promise<void> {
    const [from, to] = await this.#moveNames(name, options);
    await this.#timed("move", async () => {
      await this.#paced(0, () => this.#require().move(from, to, { signal: options.signal }));
      await this.#cacheMoved(name, options.newName ?? name, from, to);
    });
  }

  /** Keeps the cache right when a move may cross from a cached namespace to an uncached one or back. */
  async #cacheMoved(name: string, newName: string, from: string, to: string): Promise<void> {
    const cache = this.#cache;
    if (!cache) return;
    const fromCached = this.#cacheMode(name) !== CacheMode.OFF;
    const toCached = this.#cacheMode(newName) !== CacheMode.OFF;
    if (fromCached && toCached) await cache.moved(from, to);
    else if (fromCached) await cache.deleted(from);
    else if (toCached) await cache.invalidate({ key: to });
  }

  async #moveNames(name: string, options: MoveOptions): Promise<[string, string]> {
    const deleted = options.deleted ?? false;
    if (options.delete) {
      const from = await this.find(name);
      return [from, from + DEL_SUFFIX];
    }
    if (options.undelete) {
      const from = await this.find(name, { deleted: true });
      return [from, from.slice(0, -DEL_SUFFIX.length)];
    }
    if (options.changeLevel) {
      const levels = policyFor(this.#policies, name).levels;
      const from = await this.find(name, { deleted });
      return [from, nest(name, levels[levels.length - 1] as number, deleted ? DEL_SUFFIX : undefined)];
    }
    if (!options.newName) throw new InvalidArgument("Generic move requires new_name to be given.");
    return [await this.find(name, { deleted }), await this.find(options.newName, { deleted })];
  }

  /**
   * Every item below `name`, recursively through the nesting directories, as leaf ItemInfos
   * (sorted when all items sit on one level). Without `deleted` only live items; with it only
   * soft-deleted ones, named without ".del". Lazy: directories are read as the caller iterates.
   */
  async *list(name: string, options: FindOptions = {}): AsyncIterable<ItemInfo> {
    const backend = this.#require();
    throwIfAborted(options.signal);
    this.#stats.calls.list += 1;
    // Directories read ahead finish in the background; only what the caller waits for is cut off.
    yield* abortable(this.#listTree(backend, name.replace(/\/+$/, ""), options.deleted ?? false), options.signal);
  }

  async *#listTree(
    backend: Backend,
    dir: string,
    deleted: boolean,
    readAhead?: Promise<ItemInfo[]>,
  ): AsyncGenerator<ItemInfo> {
    // A nesting directory read ahead is an array (walked without awaiting); the top one a stream.
    const entries = readAhead ? await this.#listTimed(readAhead) : undefined;
    const stream = entries ? undefined : await this.#openDir(backend, dir);
    let at = 0;
    // Entries read but not yet handed out; the listings of the directories among them are already
    // under way (a bounded read-ahead that hides per-directory round trips of nested namespaces).
    const window: Array<{ info: ItemInfo; listing?: Promise<ItemInfo[]> }> = [];
    let exhausted = false;
    try {
      for (;;) {
        while (!exhausted && window.length < this.#listReadAhead) {
          let info: ItemInfo | undefined;
          if (entries) info = entries[at++];
          else {
            const step = await this.#listTimed((stream as AsyncIterator<ItemInfo>).next());
            info = step.done ? undefined : step.value;
          }
          if (info === undefined) {
            exhausted = true;
            break;
          }
          const listing = info.directory ? this.#readDir(backend, childOf(dir, info.name)) : undefined;
          listing?.catch(() => undefined); // awaited when reached; a caller that stops early never reaches it
          window.push({ info, listing });
        }
        const next = window.shift();
        if (!next) return;
        const { info, listing } = next;
        if (listing) {
          yield* this.#listTree(backend, childOf(dir, info.name), deleted, listing);
        } else if (info.name.endsWith(DEL_SUFFIX)) {
          if (deleted) yield { ...info, name: info.name.slice(0, -DEL_SUFFIX.length) };
        } else if (!deleted) {
          yield info;
        }
      }
    } finally {
      await stream?.return?.();
    }
  }

  /** The top directory of a list, streamed (a flat namespace may be huge). */
  async #openDir(backend: Backend, dir: string): Promise<AsyncIterator<ItemInfo>> {
    const items = backend.list(dir)[Symbol.asyncIterator]();
    await this.#listTimed(this.#emulation.listPause());
    return items;
  }

  /** A nesting directory, read whole (they hold a fraction of a namespace each). */
  async #readDir(backend: Backend, dir: string): Promise<ItemInfo[]> {
    const items: ItemInfo[] = [];
    for await (const info of backend.list(dir)) items.push(info);
    await this.#emulation.listPause();
    return items;
  }

  /** Time the list spends waiting for the backend (not the caller's time between items). */
  async #listTimed<T>(pending: Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await pending;
    } finally {
      this.#stats.addTime("list", (performance.now() - start) / 1000);
    }
  }

  /** Hex digest of the item (computed by the backend where it can). */
  async hash(name: string, options: HashOptions = {}): Promise<string> {
    const algorithm = options.algorithm ?? "sha256";
    checkHashAlgorithm(algorithm);
    return this.#timed("hash", async () => {
      const nested = await this.find(name, options);
      return this.#paced(0, () => this.#require().hash(nested, algorithm, { signal: options.signal }));
    });
  }

  /**
   * Concatenates [key, offset, size] ranges of items of `namespace` into one new item and returns
   * its key (without namespace and nesting). Sources stay; not counted in stats.
   */
  async defrag(sources: readonly DefragSource[], options: StoreDefragOptions = {}): Promise<string> {
    const namespace = (options.namespace ?? "").replace(/\/+$/, "");
    const full = (key: string) => (namespace ? `${namespace}/${key}` : key);
    const mapped: DefragSource[] = [];
    for (const [key, offset, size] of sources) mapped.push([await this.find(full(key), options), offset, size]);
    const target = options.target ? await this.find(full(options.target)) : undefined;
    const policy = this.#policies.find((p) => (namespace ? `${namespace}/` : "").startsWith(p.namespace));
    const levels = policy ? (policy.levels[policy.levels.length - 1] as number) : 0;
    const result = await this.#require().defrag(mapped, { target, algorithm: options.algorithm, namespace, levels, signal: options.signal });
    // An older cached copy of an overwritten target would be stale.
    if (this.#cacheMode(result) !== CacheMode.OFF) await this.#cache?.invalidate({ key: result });
    return splitKey(result)[1];
  }

  /** The backend's quota limit and usage in bytes (-1 each without a quota). */
  async quota(options: OperationOptions = {}): Promise<QuotaInfo> {
    return this.#require().quota(options);
  }

  /**
   * Drops cached copies (never primary data): "" → everything cached; a cached namespace
   * ("data" or "data/") → all of its items; else the one item `name` (soft-deleted with `deleted`).
   */
  async cacheInvalidate(name: string, options: FindOptions = {}): Promise<void> {
    if (typeof name !== "string") throw new InvalidArgument("cacheInvalidate needs a name (\"\" for everything)");
    if (!this.#cache) return;
    if (name === "") return this.#cache.invalidate({ directory: "" });
    const bare = name.replace(/\/+$/, "");
    const namespace = this.#policies.find((p) => p.cache !== CacheMode.OFF && p.namespace.replace(/\/+$/, "") === bare);
    if (namespace) return this.#cache.invalidate({ directory: bare });
    await this.#cache.invalidate({ key: await this.find(name, options) });
  }

  // ---- plumbing ---------------------------------------------------------------------------

  async #resolve(): Promise<Backend> {
    if (this.#backend) return this.#backend;
    this.#resolving ??= backendFromUrl(this.url as string, { permissions: this.#permissions });
    try {
      this.#backend = await this.#resolving;
    } finally {
      this.#resolving = undefined;
    }
    return this.#backend;
  }

  #cacheMode(name: string): CacheMode {
    return this.#cache ? policyFor(this.#policies, name).cache : CacheMode.OFF;
  }

  #require(): Backend {
    if (!this.#backend) throw new BackendMustBeOpen("backend must be open");
    return this.#backend;
  }

  /** Counts a Store call and its duration (failed calls are not counted, as in the reference). */
  async #timed<T>(operation: TimedOperation, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const result = await work();
    this.#stats.record(operation, (performance.now() - start) / 1000);
    return result;
  }

  /** One primary backend call, stretched to the emulated latency + volume / bandwidth. */
  async #paced<T>(volume: number, call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const result = await call();
    await this.#emulation.pace(start, volume);
    return result;
  }

  async #pacedVolume(call: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const start = performance.now();
    const result = await call();
    await this.#emulation.pace(start, result.byteLength);
    return result;
  }

  #countStored(volume: number): void {
    this.#stats.backendStoreCalls += 1;
    this.#stats.backendStoreVolume += volume;
    this.#stats.storeVolume += volume;
  }

  #countLoaded(source: SizedByteSource): SizedByteSource {
    return observedSource(source, (chunk) => {
      this.#stats.loadVolume += chunk.byteLength;
      this.#stats.backendLoadVolume += chunk.byteLength;
    });
  }
}

function childOf(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}
