/** Operations whose calls and time Store.stats always reports. */
export const TIMED_OPERATIONS = ["info", "load", "store", "delete", "move", "list", "hash"] as const;
export type TimedOperation = (typeof TIMED_OPERATIONS)[number];

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
  snapshot(): Record<string, number | boolean> {
    const out: Record<string, number | boolean> = {};
    for (const op of TIMED_OPERATIONS) {
      out[`${op}_calls`] = this.calls[op];
      out[`${op}_time`] = this.time[op];
    }
    out.load_volume = this.loadVolume;
    out.store_volume = this.storeVolume;
    out.load_throughput = this.time.load > 0 ? this.loadVolume / this.time.load : 0;
    out.store_throughput = this.time.store > 0 ? this.storeVolume / this.time.store : 0;
    out.backend_load_calls = this.backendLoadCalls;
    out.backend_store_calls = this.backendStoreCalls;
    out.backend_delete_calls = this.backendDeleteCalls;
    out.backend_load_volume = this.backendLoadVolume;
    out.backend_store_volume = this.backendStoreVolume;
    out.cache_disabled = this.cacheDisabled;
    out.cache_hits = this.cacheHits;
    out.cache_misses = this.cacheMisses;
    const lookups = this.cacheHits + this.cacheMisses;
    out.cache_hit_ratio = lookups > 0 ? this.cacheHits / lookups : 0;
    out.cache_errors = this.cacheErrors;
    out.cache_load_calls = this.cacheLoadCalls;
    out.cache_store_calls = this.cacheStoreCalls;
    out.cache_delete_calls = this.cacheDeleteCalls;
    out.cache_load_volume = this.cacheLoadVolume;
    out.cache_store_volume = this.cacheStoreVolume;
    return out;
  }
}

function zeroes(): Record<TimedOperation, number> {
  return { info: 0, load: 0, store: 0, delete: 0, move: 0, list: 0, hash: 0 };
}
