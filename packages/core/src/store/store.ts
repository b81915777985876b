import { abortable, throwIfAborted } from "../abort.js";
import { asBytes } from "../byte-source.js";
import type { Backend, StorableValue } from "../backend.js";
import { BackendMustBeOpen, InvalidArgument, NoBackendGiven } from "../errors.js";
import { checkHashAlgorithm } from "../hashing.js";
import { openOnFirstStep } from "../first-step.js";
import type { HashAlgorithm } from "../hash-algorithm.js";
import type { CacheLogger } from "../layers/cache-layer.js";
import { Emulation } from "../layers/emulation-layer.js";
import { DEL_SUFFIX } from "../names.js";
import { nest, splitKey } from "../nesting.js";
import type { ByteSource, DefragSource, ItemInfo, OperationOptions, Permissions, QuotaInfo, SizedByteSource, StoreStreamOptions } from "../types.js";
import { backendFromUrl, redactUrl } from "../url.js";
import { CacheMode, type NamespaceConfig, type NamespacePolicy, type StoreConfig, checkLevels, parseStoreConfig, policyFor } from "./config.js";
import { LayerStack, type LayerStackOptions, type ListFigures } from "./layer-stack.js";
import { levelDirectories } from "./levels.js";
import { StoreStats, type StoreStatsSnapshot } from "./stats.js";


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
 * listing, statistics and latency/bandwidth emulation (core README: Options, Cache tier, Layers). Naming, nesting and soft delete
 * are the Store's own; statistics, the cache tier and emulation are layers it stacks over the
 * backend (see LayerStack).
 */
export class Store {
  /** The backend URL this store was made with, if any. */
  readonly url: string | undefined;
  #backend: Backend | undefined;
  #stack: LayerStack | undefined;
  #resolving: Promise<Backend> | undefined;
  readonly #permissions: Permissions | undefined;
  #policies: NamespacePolicy[];
  readonly #layers: LayerStackOptions;
  readonly #list: ListFigures = { calls: 0, seconds: 0 };
  readonly #listReadAhead: number;

  constructor(options: StoreOptions) {
    const { url, backend, config, cacheUrl, cacheBackend } = options;
    if (!backend && url === undefined) throw new NoBackendGiven("You need to give a backend instance or a backend url.");
    this.url = url;
    this.#permissions = options.permissions;
    this.#policies = parseStoreConfig(config);
    if (cacheUrl !== undefined && cacheBackend !== undefined)
      throw new InvalidArgument("Give either cacheUrl or cacheBackend, not both.");
    const cached = this.#policies.filter((p) => p.cache !== CacheMode.OFF);
    if (cached.length > 0 && cacheUrl === undefined && cacheBackend === undefined)
      throw new InvalidArgument(
        `Cache mode ${cached[0]?.cache} for namespace '${cached[0]?.namespace}' needs a cacheUrl or cacheBackend.`,
      );
    const readAhead = options.listReadAhead ?? 16;
    if (!Number.isSafeInteger(readAhead) || readAhead < 1)
      throw new InvalidArgument(`listReadAhead must be an integer >= 1, but got: ${readAhead}`);
    this.#listReadAhead = readAhead;
    const fromEnv = Emulation.fromEnv();
    this.#layers = {
      policies: () => this.#policies,
      cache: cacheUrl !== undefined || cacheBackend !== undefined ? { url: cacheUrl, backend: cacheBackend } : undefined,
      logger: options.logger ?? console,
      clock: options.clock ?? (() => Date.now() / 1000),
      emulation: new Emulation(options.latency ?? fromEnv.latency * 1e6, options.bandwidth ?? fromEnv.bandwidth * 8),
    };
    if (backend) this.#use(backend);
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
    return this.#stack?.cacheBackend ?? this.#layers.cache?.backend;
  }

  /** The validated namespace configurations, longest namespace first. */
  get policies(): readonly NamespacePolicy[] {
    return this.#policies;
  }

  /** The reference's statistics, every key always present, every time in seconds. */
  get stats(): StoreStatsSnapshot {
    if (this.#stack) return this.#stack.snapshot(this.#list);
    const stats = new StoreStats();
    stats.calls.list = this.#list.calls;
    stats.time.list = this.#list.seconds;
    return stats.snapshot();
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
    const cached = this.#policies.filter((p) => p.cache !== CacheMode.OFF);
    await this.#stack?.cache?.mkdirInCache(cached.flatMap((policy) => [...levelDirectories(policy)]));
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Creates the backend's storage (and the cache's); BackendAlreadyExists if it exists. */
  async create(): Promise<void> {
    await this.#resolve();
    await this.#top().create();
    if (this.#backend?.precreateDirs) await this.createLevels();
  }

  /** Deletes the backend's storage and everything in it (and the cache's); the store must be closed. */
  async destroy(): Promise<void> {
    await this.#resolve();
    await this.#top().destroy();
  }

  /** Opens the backend, then the cache (a cache that fails to open is disabled) and cleans the cache up. */
  async open(): Promise<void> {
    await this.#resolve();
    await this.#top().open();
  }

  /** Closes the backend, then cleans the cache up and closes it (cache errors are only logged). */
  async close(): Promise<void> {
    await this.#top().close();
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
    if (this.#stack?.top.opened) await this.close();
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
    this.#top(); // the look-ups below go to the primary itself: they are naming, not operations to count or slow down
    const backend = this.#backend as Backend;
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
    const nested = this.#nestedOnlyLevel(name, options) ?? (await this.find(name, options));
    const { signal } = options;
    return this.#top().info(nested, signal ? { signal } : NO_OPTIONS);
  }

  /** The value of `name`, or the `offset`/`size` part of it; ObjectNotFound if missing. */
  async load(name: string, options: StoreLoadOptions = {}): Promise<Uint8Array> {
    const nested = this.#nestedOnlyLevel(name, options) ?? (await this.find(name, options));
    const { offset, size, signal, into } = options;
    return this.#top().load(nested, { offset, size, signal, into });
  }

  /**
   * Like load, as a stream (for big values). Counted as a load; emulation applies the latency
   * only, as the volume is not known up front.
   */
  async loadStream(name: string, options: StoreLoadOptions = {}): Promise<SizedByteSource> {
    const nested = await this.find(name, options);
    const { offset, size, signal } = options;
    return this.#top().loadStream(nested, { offset, size, signal });
  }

  /** Stores `value` under `name`: an existing item is overwritten where it is, a new one goes to the last level. */
  async store(name: string, value: StorableValue, options: OperationOptions = {}): Promise<void> {
    const bytes = asBytes(value);
    const nested = await this.find(name, { signal: options.signal });
    await this.#top().store(nested, bytes, options);
  }

  /**
   * Like store, from a stream; with options.size/sha256 a mismatch stores nothing. Chunks are
   * handed over: the backend may keep references to them until this call settles, so the source
   * must not change a chunk after yielding it before then (a reader that fills one buffer again
   * and again yields a copy of it each time).
   */
  async storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    const nested = await this.find(name, { signal: options.signal });
    await this.#top().storeStream(nested, source, options);
  }

  /** Deletes the item for good (see move with `delete: true` for a soft delete). */
  async delete(name: string, options: FindOptions = {}): Promise<void> {
    const nested = await this.find(name, options);
    await this.#top().delete(nested, { signal: options.signal });
  }

  /**
   * Soft delete, undelete, change of nesting level or a generic rename, in that order of
   * precedence when several options are given.
   */
  async move(name: string, options: MoveOptions = {}): Promise<void> {
    const [from, to] = await this.#moveNames(name, options);
    await this.#top().move(from, to, { signal: options.signal });
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
  list(name: string, options: FindOptions = {}): AsyncIterable<ItemInfo> {
    return openOnFirstStep(() => {
      const backend = this.#top();
      throwIfAborted(options.signal);
      this.#list.calls += 1;
      // Directories read ahead finish in the background; only what the caller waits for is cut off.
      return abortable(this.#listTree(backend, name.replace(/\/+$/, ""), options.deleted ?? false), options.signal);
    });
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
    return backend.list(dir)[Symbol.asyncIterator]();
  }

  /** A nesting directory, read whole (they hold a fraction of a namespace each). */
  async #readDir(backend: Backend, dir: string): Promise<ItemInfo[]> {
    const items: ItemInfo[] = [];
    for await (const info of backend.list(dir)) items.push(info);
    return items;
  }

  /** Time the list spends waiting for the backend (not the caller's time between items). */
  async #listTimed<T>(pending: Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await pending;
    } finally {
      this.#list.seconds += (performance.now() - start) / 1000;
    }
  }

  /** Hex digest of the item (computed by the backend where it can). */
  async hash(name: string, options: HashOptions = {}): Promise<string> {
    const algorithm = options.algorithm ?? "sha256";
    checkHashAlgorithm(algorithm);
    const nested = await this.find(name, options);
    return this.#top().hash(nested, algorithm, { signal: options.signal });
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
    this.#top();
    // The primary itself: its own defrag (server-side where it has one), not counted, not slowed down.
    const primary = this.#backend as Backend;
    const defrag = () => primary.defrag(mapped, { target, algorithm: options.algorithm, namespace, levels, signal: options.signal });
    // In the target's turn with the cache's changes of it, whose copies would otherwise land after the
    // older copy is dropped; a digest-named target is known only once written.
    const cache = this.#stack?.cache;
    let result: string;
    if (!cache) result = await defrag();
    else if (target) result = await cache.changeInPrimary(target, defrag);
    else {
      result = await defrag();
      await cache.changedInPrimary(result);
    }
    return splitKey(result)[1];
  }

  /** The backend's quota limit and usage in bytes (-1 each without a quota). */
  async quota(options: OperationOptions = {}): Promise<QuotaInfo> {
    return this.#top().quota(options);
  }

  /**
   * Drops cached copies (never primary data): "" → everything cached; a cached namespace
   * ("data" or "data/") → all of its items; else the one item `name` (soft-deleted with `deleted`).
   */
  async cacheInvalidate(name: string, options: FindOptions = {}): Promise<void> {
    if (typeof name !== "string") throw new InvalidArgument("cacheInvalidate needs a name (\"\" for everything)");
    const cache = this.#stack?.cache;
    if (!cache) return;
    if (name === "") return cache.invalidate({ directory: "" });
    const bare = name.replace(/\/+$/, "");
    const namespace = this.#policies.find((p) => p.cache !== CacheMode.OFF && p.namespace.replace(/\/+$/, "") === bare);
    if (namespace) return cache.invalidate({ directory: bare });
    await cache.invalidate({ key: await this.find(name, options) });
  }

  // ---- plumbing ---------------------------------------------------------------------------

  async #resolve(): Promise<Backend> {
    if (this.#backend) return this.#backend;
    this.#resolving ??= backendFromUrl(this.url as string, { permissions: this.#permissions });
    try {
      const backend = await this.#resolving;
      return this.#backend ?? this.#use(backend); // callers racing here share one stack
    } finally {
      this.#resolving = undefined;
    }
  }

  #use(backend: Backend): Backend {
    this.#backend = backend;
    this.#stack = new LayerStack(backend, this.#layers);
    return backend;
  }

  /** The top of the layer stack, where data operations go. */
  #top(): Backend {
    if (!this.#stack) throw new BackendMustBeOpen("backend must be open");
    return this.#stack.top;
  }
}

/** The options of a backend call without a signal (one object for all of them: the hot path allocates none). */
const NO_OPTIONS: OperationOptions = Object.freeze({});

function childOf(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}
