import type { Backend } from "../backend.js";
import { CacheLayer, type CacheLogger } from "../layers/cache-layer.js";
import { CountingLayer } from "../layers/counting-layer.js";
import { type Emulation, EmulationLayer } from "../layers/emulation-layer.js";
import { nest } from "../nesting.js";
import { backendFromUrl } from "../url.js";
import { CacheMode, type NamespacePolicy } from "./config.js";
import { StoreStats, type StoreStatsSnapshot, TIMED_OPERATIONS } from "./stats.js";

/** What a Store's options say about the layers over its primary backend. */
export interface LayerStackOptions {
  /** The Store's namespace policies (they change with setLevels), longest namespace first. */
  policies: () => readonly NamespacePolicy[];
  /** The cache backend or its URL; neither = no cache layer. */
  cache: { backend?: Backend; url?: string } | undefined;
  logger: CacheLogger;
  clock: () => number;
  emulation: Emulation;
}

/** Store.list's own figures: one call per Store.list, however many directories it reads. */
export interface ListFigures {
  calls: number;
  seconds: number;
}

/**
 * The layers a Store puts over its primary backend, built from its options:
 *
 *     counting (Store operations) → cache → counting (primary calls) → emulation → primary
 *                                     └──→ counting (cache calls) → cache backend
 *
 * Without a cache one counting layer serves both figures (every Store operation then reaches
 * the primary); without emulation settings there is no emulation layer.
 */
export class LayerStack {
  /** Where the Store's data operations go. */
  readonly top: Backend;
  /** The cache layer, when the Store has a cache. */
  readonly cache: CacheLayer | undefined;
  readonly #operations: CountingLayer;
  readonly #primaryCalls: CountingLayer;
  #cacheCalls: CountingLayer | undefined;

  constructor(primary: Backend, options: LayerStackOptions) {
    const paced = options.emulation.active ? new EmulationLayer(primary, options.emulation) : primary;
    // The Store times its lists itself (snapshot below): its layers pass them through uncounted.
    this.#primaryCalls = new CountingLayer(paced, { countLists: false });
    const { cache } = options;
    if (!cache) {
      this.#operations = this.#primaryCalls;
      this.top = this.#operations;
      return;
    }
    this.cache = new CacheLayer(this.#primaryCalls, {
      cache: async () => {
        this.#cacheCalls = new CountingLayer(cache.backend ?? (await backendFromUrl(cache.url as string)), { countLists: false });
        return this.#cacheCalls;
      },
      policies: options.policies,
      modeOf: (name) => cacheModeOf(options.policies(), name),
      logger: options.logger,
      clock: options.clock,
    });
    this.#operations = new CountingLayer(this.cache, { countLists: false });
    this.top = this.#operations;
  }

  /** The cache backend, once resolved. */
  get cacheBackend(): Backend | undefined {
    return this.#cacheCalls?.inner;
  }

  /** The reference's statistics, from what each layer counted. */
  snapshot(list: ListFigures): StoreStatsSnapshot {
    const stats = new StoreStats();
    const operations = this.#operations.counts;
    for (const op of TIMED_OPERATIONS) {
      if (op === "list") continue;
      stats.calls[op] = operations.operations[op].succeeded;
      stats.time[op] = operations.operations[op].seconds;
    }
    stats.calls.list = list.calls;
    stats.time.list = list.seconds;
    stats.loadVolume = operations.loadVolume;
    stats.storeVolume = operations.storeVolume;
    const primary = this.#primaryCalls.counts;
    stats.backendLoadCalls = primary.operations.load.succeeded;
    stats.backendStoreCalls = primary.operations.store.succeeded;
    stats.backendDeleteCalls = primary.operations.delete.succeeded;
    stats.backendLoadVolume = primary.loadVolume;
    stats.backendStoreVolume = primary.storeVolume;
    if (this.cache) {
      const { disabled, hits, misses, errors } = this.cache.stats;
      Object.assign(stats, { cacheDisabled: disabled, cacheHits: hits, cacheMisses: misses, cacheErrors: errors });
    }
    if (this.#cacheCalls) {
      const calls = this.#cacheCalls.counts;
      const attempts = (op: "load" | "store" | "delete") => calls.operations[op].succeeded + calls.operations[op].failed;
      stats.cacheLoadCalls = attempts("load");
      stats.cacheStoreCalls = attempts("store");
      stats.cacheDeleteCalls = attempts("delete");
      stats.cacheLoadVolume = calls.loadVolume;
      stats.cacheStoreVolume = calls.storeVolume;
    }
    return stats.snapshot();
  }
}

/**
 * The cache mode of a nested backend name: that of the namespace whose nesting produced it. A
 * name could come from several (a key in a namespace nested one level, or a name with a slash in
 * a flat one); the deepest nesting wins, as stores nest their keys.
 */
export function cacheModeOf(policies: readonly NamespacePolicy[], nested: string): CacheMode {
  const parts = nested.split("/");
  const key = parts[parts.length - 1] as string;
  for (let level = parts.length - 1; level >= 0; level--) {
    const name = [...parts.slice(0, parts.length - 1 - level), key].join("/");
    const policy = policies.find((p) => name.startsWith(p.namespace));
    if (policy?.levels.includes(level) && nest(name, level) === nested) return policy.cache;
  }
  return CacheMode.OFF;
}
