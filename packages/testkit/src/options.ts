import type { Backend, BackendCapabilities } from "@borgstore/core";

/**
 * Makes a backend for one test. Its location must not exist yet, or be empty: the suite calls
 * create() (and destroy() after the test), so one fixed location works when tests run one by one.
 */
export type BackendFactory = () => Promise<Backend> | Backend;

/** Makes a backend like BackendFactory, configured with a quota of `limit` bytes. */
export type QuotaBackendFactory = (limit: number) => Promise<Backend> | Backend;

/** Options of the conformance suite: how to make the backend under test and what to expect of it. */
export interface ConformanceOptions {
  /** Shown in test titles: "posixfs", "rest over stdio", … */
  name: string;
  /** Makes a new, not yet created backend for a fresh, empty location (one per test). */
  factory: BackendFactory;
  /** Overrides of what the backend declares in `backend.capabilities`. */
  capabilities?: Partial<BackendCapabilities>;
  /** Largest value in the size round-trip tests (default 100 MB, as the reference); sizes are 10^0 … this. */
  maxValueSize?: number;
  /** Called after each test with the backend it used (e.g. to remove temp dirs). */
  cleanup?: (backend: Backend) => Promise<void> | void;
  /** Enables the quota tests: a backend with a quota of `limit` bytes, otherwise like `factory`'s. */
  quotaFactory?: QuotaBackendFactory;
  /** Operations in flight at once in the concurrency tests (default 64). */
  concurrency?: number;
  /** Size of the value in the streaming round trips (default 8 MiB). */
  streamValueSize?: number;
  /** Time limit of one test in ms (default 30 s); the size tests add 1 s per MB. */
  timeout?: number;
  /** How long each read-race test runs readers against writers, deleters and movers, in ms (default 1500). */
  raceMs?: number;
  /**
   * Tests not to run, each with the reason shown in its title: a key matches every test whose
   * full title ("topic › test") contains it. For known limits of a storage, not to hide bugs.
   */
  skip?: Readonly<Record<string, string>>;
  /**
   * Tests this peer is known to fail, each with the reason shown in its title (keys match as in
   * `skip`). They still run, and must fail: a peer that gets fixed makes its entry fail, so the
   * list cannot outlive the divergence. For a peer we do not control (the Python reference).
   */
  knownFailures?: Readonly<Record<string, string>>;
}

export interface ResolvedOptions extends Required<Omit<ConformanceOptions, "capabilities" | "cleanup" | "quotaFactory">> {
  capabilities: Partial<BackendCapabilities>;
  cleanup: ConformanceOptions["cleanup"];
  quotaFactory: QuotaBackendFactory | undefined;
}

export function resolveOptions(options: ConformanceOptions): ResolvedOptions {
  return {
    name: options.name,
    factory: options.factory,
    capabilities: options.capabilities ?? {},
    maxValueSize: options.maxValueSize ?? 100_000_000,
    cleanup: options.cleanup,
    quotaFactory: options.quotaFactory,
    concurrency: options.concurrency ?? 64,
    streamValueSize: options.streamValueSize ?? 8 * 1024 * 1024,
    timeout: options.timeout ?? 30_000,
    raceMs: options.raceMs ?? 1_500,
    skip: options.skip ?? {},
    knownFailures: options.knownFailures ?? {},
  };
}
