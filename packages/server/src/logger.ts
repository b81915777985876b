import pino from "pino";
import { escapeControl } from "./request-target.js";

/** Log levels from the most to the least severe. */
export const LOG_LEVELS = ["error", "warning", "info", "debug"] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Plain lines (the reference's) or one JSON object a line (pino's format). */
export const LOG_FORMATS = ["text", "json"] as const;
/** One of LOG_FORMATS. */
export type LogFormat = (typeof LOG_FORMATS)[number];

const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warning: 1, info: 2, debug: 3 };

const PINO_LEVEL = { error: "error", warning: "warn", info: "info", debug: "debug" } as const;

/**
 * Log lines to stderr only (stdout carries the protocol in stdio mode). Lines are gathered and
 * written once per event-loop turn, so the access log costs one write per batch, not per request.
 */
export class Logger {
  /** The least severe level that is written. */
  readonly level: LogLevel;
  #rank: number;
  #pending: string[] = [];
  #scheduled = false;
  #out: NodeJS.WritableStream;
  #json: pino.Logger | undefined;

  constructor(level: LogLevel = "info", out: NodeJS.WritableStream = process.stderr, format: LogFormat = "text") {
    this.level = level;
    this.#rank = LOG_LEVELS.indexOf(level);
    this.#out = out;
    // pino formats; its lines join the same batch as text lines (one write per event-loop turn).
    if (format === "json")
      this.#json = pino(
        { level: "debug", base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
        { write: (line: string) => this.#push(line) },
      );
  }

  /** The format lines are written in. */
  get format(): LogFormat {
    return this.#json ? "json" : "text";
  }

  /** True if messages of `level` are written. */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= this.#rank;
  }

  /** Logs `message` at level error. */
  error(message: string): void {
    this.#log("error", message);
  }
  /** Logs `message` at level warning. */
  warning(message: string): void {
    this.#log("warning", message);
  }
  /** Logs `message` at level info. */
  info(message: string): void {
    this.#log("info", message);
  }
  /** Logs `message` at level debug. */
  debug(message: string): void {
    this.#log("debug", message);
  }

  /**
   * Logs a record: in JSON, `fields` (or what `fields()` returns, asked for only then) beside
   * `message`; in text, `text()` (asked for only then). Fields must not hold anything secret:
   * they are written as they are.
   */
  record(
    level: LogLevel,
    message: string,
    fields: Record<string, unknown> | (() => Record<string, unknown>),
    text: () => string,
  ): void {
    if (!this.enabled(level)) return;
    if (this.#json) this.#json[PINO_LEVEL[level]](typeof fields === "function" ? fields() : fields, message);
    else this.#push(`${escapeControl(text())}\n`);
  }

  /** Writes what is pending now (before exit). */
  flush(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join("");
    this.#pending = [];
    this.#out.write(text);
  }

  /** Writes what is pending and resolves once the stream has taken it (a file before exit). */
  flushed(): Promise<void> {
    this.flush();
    return new Promise((resolve) => this.#out.write("", () => resolve()));
  }

  #log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    if (this.#json) this.#json[PINO_LEVEL[level]](message);
    else this.#push(`${escapeControl(message)}\n`);
  }

  #push(line: string): void {
    this.#pending.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
  }
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** The reference's access-log time: 21/Nov/2026 22:42:31 (local time, as Python's log_date_time_string). */
let cachedSecond = -1;
let cachedText = "";

export function logTime(now: number = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedText = formatLogTime(new Date(second * 1000));
  }
  return cachedText;
}

function formatLogTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
