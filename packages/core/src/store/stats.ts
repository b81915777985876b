/** Operations whose calls and time Store.stats always reports. */
export const TIMED_OPERATIONS = ["info", "load", "store", "delete", "move", "list", "hash"] as const;
/** A Store operation whose calls and time are counted. */
export type TimedOperation = (typeof TIMED_OPERATIONS)[number];

/** What Store.stats returns: the reference's keys, all always present, times in seconds. */
export interface StoreStatsSnapshot {
  [key: string]: number | boolean;
  /** Number of info calls. */
  info_calls: number;
  /** Seconds spent in info calls, summed. */
  info_time: number;
  /** Number of load calls. */
  load_calls: number;
  /** Seconds spent in load calls, summed. */
  load_time: number;
  /** Number of store calls. */
  store_calls: number;
  /** Seconds spent in store calls, summed. */
  store_time: number;
  /** Number of delete calls. */
  delete_calls: number;
  /** Seconds spent in delete calls, summed. */
  delete_time: number;
  /** Number of move calls. */
  move_calls: number;
  /** Seconds spent in move calls, summed. */
  move_time: number;
  /** Number of list calls. */
  list_calls: number;
  /** Seconds spent in list calls, summed. */
  list_time: number;
  /** Number of hash calls. */
  hash_calls: number;
  /** Seconds spent in hash calls, summed. */
  hash_time: number;
  /** Bytes loaded. */
  load_volume: number;
  /** Bytes stored. */
  store_volume: number;
  /** load_volume / load_time in bytes per second (0 before any load). */
  load_throughput: number;
  /** store_volume / store_time in bytes per second (0 before any store). */
  store_throughput: number;
  /** Loads that reached the primary backend (cache misses and uncached namespaces). */
  backend_load_calls: number;
  /** Stores that reached the primary backend. */
  backend_store_calls: number;
  /** Deletes that reached the primary backend. */
  backend_delete_calls: number;
  /** Bytes loaded from the primary backend. */
  backend_load_volume: number;
  /** Bytes stored to the primary backend. */
  backend_store_volume: number;
  /** True once the cache failed and was switched off for this store. */
  cache_disabled: boolean;
  /** Loads served from the cache. */
  cache_hits: number;
  /** Loads of cached namespaces that the cache could not serve. */
  cache_misses: number;
  /** cache_hits / (cache_hits + cache_misses), 0 without lookups. */
  cache_hit_ratio: number;
  /** Cache failures (logged, never failing an operation). */
  cache_errors: number;
  /** Loads from the cache backend. */
  cache_load_calls: number;
  /** Stores to the cache backend. */
  cache_store_calls: number;
  /** Deletes from the cache backend. */
  cache_delete_calls: number;
  /** Bytes loaded from the cache backend. */
  cache_load_volume: number;
  /** Bytes stored to the cache backend. */
  cache_store_volume: number;
}

/** Counters kept by one Store; every update is a single synchronous step, so overlapping promises stay exact. */
export class StoreStats {
  /** Calls per operation. */
  readonly calls: Record<TimedOperation, number> = zeroes();
  /** Seconds, summed over calls (overlapping calls each count their own duration). */
  readonly time: Record<TimedOperation, number> = zeroes();
  /** Bytes loaded (see StoreStatsSnapshot.load_volume). */
  loadVolume = 0;
  /** Bytes stored. */
  storeVolume = 0;
  /** Loads that reached the primary backend. */
  backendLoadCalls = 0;
  /** Stores that reached the primary backend. */
  backendStoreCalls = 0;
  /** Deletes that reached the primary backend. */
  backendDeleteCalls = 0;
  /** Bytes loaded from the primary backend. */
  backendLoadVolume = 0;
  /** Bytes stored to the primary backend. */
  backendStoreVolume = 0;
  /** True once the cache failed and was switched off. */
  cacheDisabled = false;
  /** Loads served from the cache. */
  cacheHits = 0;
  /** Cached-namespace loads the cache could not serve. */
  cacheMisses = 0;
  /** Cache failures (logged only). */
  cacheErrors = 0;
  /** Loads from the cache backend. */
  cacheLoadCalls = 0;
  /** Stores to the cache backend. */
  cacheStoreCalls = 0;
  /** Deletes from the cache backend. */
  cacheDeleteCalls = 0;
  /** Bytes loaded from the cache backend. */
  cacheLoadVolume = 0;
  /** Bytes stored to the cache backend. */
  cacheStoreVolume = 0;

  /** Counts one call of `operation` that took `seconds`. */
  record(operation: TimedOperation, seconds: number): void {
    this.calls[operation] += 1;
    this.time[operation] += seconds;
  }

  /** Adds `seconds` to `operation`'s time without counting a call. */
  addTime(operation: TimedOperation, seconds: number): void {
    this.time[operation] += seconds;
  }

  /** The reference's dict, with every key always present and every time in seconds. */
  snapshot(): StoreStatsSnapshot {
    const perOperation: Record<string, number> = {};
    for (const op of TIMED_OPERATIONS) {
      perOperation[`${op}_calls`] = this.calls[op];
      perOperation[`${op}_time`] = this.time[op];
    }
    const lookups = this.cacheHits + this.cacheMisses;
    return {
      ...(perOperation as Pick<StoreStatsSnapshot, `${TimedOperation}_calls` | `${TimedOperation}_time`>),
      load_volume: this.loadVolume,
      store_volume: this.storeVolume,
      load_throughput: this.time.load > 0 ? this.loadVolume / this.time.load : 0,
      store_throughput: this.time.store > 0 ? this.storeVolume / this.time.store : 0,
      backend_load_calls: this.backendLoadCalls,
      backend_store_calls: this.backendStoreCalls,
      backend_delete_calls: this.backendDeleteCalls,
      backend_load_volume: this.backendLoadVolume,
      backend_store_volume: this.backendStoreVolume,
      cache_disabled: this.cacheDisabled,
      cache_hits: this.cacheHits,
      cache_misses: this.cacheMisses,
      cache_hit_ratio: lookups > 0 ? this.cacheHits / lookups : 0,
      cache_errors: this.cacheErrors,
      cache_load_calls: this.cacheLoadCalls,
      cache_store_calls: this.cacheStoreCalls,
      cache_delete_calls: this.cacheDeleteCalls,
      cache_load_volume: this.cacheLoadVolume,
      cache_store_volume: this.cacheStoreVolume,
    };
  }

}

function zeroes(): Record<TimedOperation, number> {
  return { info: 0, load: 0, store: 0, delete: 0, move: 0, list: 0, hash: 0 };
}
