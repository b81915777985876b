import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { OperationName } from "./operation.js";
import type { RequestLabels } from "./request-labels.js";

/** One finished request, as the metrics and the logs see it. */
export interface RequestRecord extends RequestLabels {
  operation: OperationName;
  /** HTTP status sent; undefined when the connection ended before an answer. */
  status: number | undefined;
  /** Body bytes of a request received in full. */
  bytesIn: number;
  /** Body bytes of a response sent in full. */
  bytesOut: number;
  durationSeconds: number;
}

/** What a repository holds, where the server knows it without walking a listing. */
export interface StoredUsage extends RequestLabels {
  bytes?: number;
  objects?: number;
  /** Unix time (seconds) of the last successful write, where the server keeps it (hosting mode's usage records). */
  lastWrite?: number;
}

/** One user/repository/operation's metric children. */
interface Series {
  labels: { user: string; repo: string; operation: OperationName };
  requests: Map<string, Counter.Internal>;
  received: Counter.Internal;
  sent: Counter.Internal;
  duration: Histogram.Internal<"user" | "repo" | "operation">;
  lastWrite: Gauge.Internal<"user" | "repo">;
}

const STATUS_CLASSES: readonly string[] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

/** Label value of the user and repository once more distinct pairs than allowed were seen. */
export const OVERFLOW_LABEL = "_other";

/** Operations after which a repository counts as written (backups store values; compaction defrags). */
const WRITES: ReadonlySet<OperationName> = new Set(["store", "defrag"]);

/** Seconds; from a cached 1 KiB load (~0.2 ms) to a large upload over a slow link. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The server's Prometheus metrics, in a registry of its own (an embedding application's global
 * registry is left alone). Labels are the request's user and repository (see labelRequest), the
 * operation and the status class: never a name or path from a request. Past `maxLabelPairs`
 * distinct user/repository pairs, further ones are counted under OVERFLOW_LABEL.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<"user" | "repo" | "operation" | "status_class">;
  readonly #errors: Counter<"user" | "repo" | "operation" | "kind">;
  readonly #received: Counter<"user" | "repo" | "operation">;
  readonly #sent: Counter<"user" | "repo" | "operation">;
  readonly #duration: Histogram<"user" | "repo" | "operation">;
  readonly #lastWrite: Gauge<"user" | "repo">;
  readonly #maxLabelPairs: number;
  readonly #pairs = new Set<string>();
  /** The children of one user/repo/operation, looked up once: prom-client hashes a label object on every call. */
  readonly #series = new Map<string, Series>();
  /** The last write's time set per user/repository pair: a usage source's older one does not replace it. */
  readonly #lastWrites = new Map<string, number>();
  #usage: (() => Promise<StoredUsage[]>) | undefined;

  constructor(options: { maxLabelPairs?: number; processMetrics?: boolean } = {}) {
    this.#maxLabelPairs = options.maxLabelPairs ?? 10_000;
    const registers = [this.registry];
    this.#requests = new Counter({
      name: "borgstore_requests_total",
      help: "Requests answered, by operation and status class (2xx, 4xx, 5xx; 'none' when the connection ended first)",
      labelNames: ["user", "repo", "operation", "status_class"],
      registers,
    });
    this.#errors = new Counter({
      name: "borgstore_request_errors_total",
      help: "Requests that failed on the server's side (kind 'server': a 5xx) or lost their connection before the answer was sent (kind 'aborted')",
      labelNames: ["user", "repo", "operation", "kind"],
      registers,
    });
    this.#received = new Counter({
      name: "borgstore_received_bytes_total",
      help: "Request body bytes received in full (values stored, defrag source lists)",
      labelNames: ["user", "repo", "operation"],
      registers,
    });
    this.#sent = new Counter({
      name: "borgstore_sent_bytes_total",
      help: "Response body bytes sent in full (values loaded, listings, error pages)",
      labelNames: ["user", "repo", "operation"],
      registers,
    });
    this.#duration = new Histogram({
      name: "borgstore_request_duration_seconds",
      help: "Time from a request's arrival to the end of its answer",
      labelNames: ["user", "repo", "operation"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    const usage = () => this.#usage;
    const lastWrites = this.#lastWrites;
    this.#lastWrite = new Gauge({
      name: "borgstore_last_write_timestamp_seconds",
      help: "Unix time of the last successful store or defrag (hosting mode: also as kept in the usage records, across restarts)",
      labelNames: ["user", "repo"],
      registers,
      async collect() {
        const source = usage();
        if (!source) return;
        for (const { user, repo, lastWrite } of await source()) {
          const key = `${user}\0${repo}`;
          if (lastWrite === undefined || lastWrite <= (lastWrites.get(key) ?? -1)) continue;
          lastWrites.set(key, lastWrite);
          this.set({ user, repo }, lastWrite);
        }
      },
    });
    const reportUsage = (key: "bytes" | "objects") =>
      async function (this: Gauge<"user" | "repo">) {
        const source = usage();
        if (!source) return;
        this.reset();
        for (const sample of await source()) {
          const value = sample[key];
          if (value !== undefined && value >= 0) this.set({ user: sample.user, repo: sample.repo }, value);
        }
      };
    new Gauge({
      name: "borgstore_stored_bytes",
      help: "Bytes the repository holds, where the server knows it without walking (a backend with a quota)",
      labelNames: ["user", "repo"],
      registers,
      collect: reportUsage("bytes"),
    });
    new Gauge({
      name: "borgstore_stored_objects",
      help: "Objects the repository holds, where the server knows it without walking",
      labelNames: ["user", "repo"],
      registers,
      collect: reportUsage("objects"),
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "borgstore_" });
  }

  /** Where stored bytes and objects come from, read at each scrape (the single store: its quota usage). */
  setUsageSource(source: () => Promise<StoredUsage[]>): void {
    this.#usage = source;
  }

  /** Counts a finished request. */
  observe(record: RequestRecord): void {
    const { status } = record;
    const series = this.#seriesOf(record);
    const statusClass = status === undefined ? "none" : STATUS_CLASSES[Math.floor(status / 100)] ?? "other";
    let requests = series.requests.get(statusClass);
    if (!requests) series.requests.set(statusClass, (requests = this.#requests.labels({ ...series.labels, status_class: statusClass })));
    requests.inc();
    if (status === undefined || status >= 500)
      this.#errors.inc({ ...series.labels, kind: status === undefined ? "aborted" : "server" });
    if (record.bytesIn > 0) series.received.inc(record.bytesIn);
    if (record.bytesOut > 0) series.sent.inc(record.bytesOut);
    series.duration.observe(record.durationSeconds);
    if (status !== undefined && status < 300 && WRITES.has(record.operation)) {
      const now = Date.now() / 1000;
      series.lastWrite.set(now);
      this.#lastWrites.set(`${series.labels.user}\0${series.labels.repo}`, now);
    }
  }

  #seriesOf(record: RequestRecord): Series {
    const key = `${record.user}\0${record.repo}\0${record.operation}`;
    let series = this.#series.get(key);
    if (series) return series;
    const { user, repo } = this.#bounded(record);
    const labels = { user, repo, operation: record.operation };
    series = {
      labels,
      requests: new Map(),
      received: this.#received.labels(labels),
      sent: this.#sent.labels(labels),
      duration: this.#duration.labels(labels),
      lastWrite: this.#lastWrite.labels({ user, repo }),
    };
    // Overflowed pairs share the _other children but each keeps a key: bound the map too.
    if (this.#series.size < 20 * this.#maxLabelPairs) this.#series.set(key, series);
    return series;
  }

  /** The text exposition format for a scrape. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of render()'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  #bounded(labels: RequestLabels): RequestLabels {
    const key = `${labels.user}\0${labels.repo}`;
    if (this.#pairs.has(key)) return labels;
    if (this.#pairs.size >= this.#maxLabelPairs) return { user: OVERFLOW_LABEL, repo: OVERFLOW_LABEL };
    this.#pairs.add(key);
    return labels;
  }
}
