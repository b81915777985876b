/** Operations whose calls and time Store.stats always reports. */
export const TIMED_OPERATIONS = ["info", "load", "store", "delete", "move", "list", "hash"] as const;
export type TimedOperation = (typeof TIMED_OPERATIONS)[number];

/** What Store.stats returns: the reference's keys, all always present, times in seconds. */
export interface StoreStatsSnapshot {
  [key: string]: number | boolean;
  info_calls: number;
  info_time: number;
  load_calls: number;
  load_time: number;
  store_calls: number;
  store_time: number;
  delete_calls: number;
  delete_time: number;
  move_calls: number;
  move_time: number;
  list_calls: number;
  list_time: number;
  hash_calls: number;
  hash_time: number;
  load_volume: number;
  store_volume: number;
  load_throughput: number;
  store_throughput: number;
  backend_load_calls: number;
  backend_store_calls: number;
  backend_delete_calls: number;
  backend_load_volume: number;
  backend_store_volume: number;
  cache_disabled: boolean;
  cache_hits: number;
  cache_misses: number;
  cache_hit_ratio: number;
  cache_errors: number;
  cache_load_calls: number;
  cache_store_calls: number;
  cache_delete_calls: number;
  cache_load_volume: number;
  cache_store_volume: number;
}

/** Counters kept by one Store; every update is a single synchronous step, so overlapping promises stay exact. */
export class StoreStats {
  readonly calls: Record<TimedOperation, number> = zeroes();
  /** Seconds, summed over calls (overlapping calls each count their own duration). */
  readonly time: Record<TimedOperation, number> = zeroes();
  loadVolume = 0;
  storeVolume = 0;
  backendLoadCalls = 0;
  backendStoreCalls = 0;
  backendDeleteCalls = 0;
  backendLoadVolume = 0;
  backendStoreVolume = 0;
  cacheDisabled = false;
  cacheHits = 0;
  cacheMisses = 0;
  cacheErrors = 0;
  cacheLoadCalls = 0;
  cacheStoreCalls = 0;
  cacheDeleteCalls = 0;
  cacheLoadVolume = 0;
  cacheStoreVolume = 0;

  record(operation: TimedOperation, seconds: number): void {
    this.calls[operation] += 1;
    this.time[operation] += seconds;
  }

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
