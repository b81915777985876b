import { escapeControl } from "./request-target.js";

/** Log levels from the most to the least severe. */
export const LOG_LEVELS = ["error", "warning", "info", "debug"] as const;
/** One of LOG_LEVELS. */
export type LogLevel = (typeof LOG_LEVELS)[number];

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

  constructor(level: LogLevel = "info", out: NodeJS.WritableStream = process.stderr) {
    this.level = level;
    this.#rank = LOG_LEVELS.indexOf(level);
    this.#out = out;
  }

  /** True if messages of `level` are written. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= this.#rank;
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

  /** Writes what is pending now (before exit). */
  flush(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join("");
    this.#pending = [];
    this.#out.write(text);
  }

  #log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    this.#pending.push(`${escapeControl(message)}\n`);
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
