import { Transform } from "node:stream";
import cliProgress from "cli-progress";
import { formatSize } from "./output.js";

/** Progress bars draw only on a terminal; piped or redirected output stays clean. */
export function progressWanted(quiet: boolean): boolean {
  return !quiet && Boolean(process.stderr.isTTY);
}

/** `12.5 MiB/s` from bytes over elapsed milliseconds (0 before anything was timed). */
export function formatRate(bytes: number, elapsedMs: number): string {
  return `${formatSize(elapsedMs > 0 ? Math.round((bytes * 1000) / elapsedMs) : 0)}/s`;
}

/** The progress line's words for `done` of `total` bytes after `elapsedMs`, as rclone -P shows them. */
export function progressPayload(done: number, total: number | undefined, elapsedMs: number) {
  return { done_h: formatSize(done), total_h: total === undefined ? "?" : formatSize(total), rate: formatRate(done, elapsedMs) };
}

/** Counts bytes passing through and shows a bar (with total: percent and ETA) or a running counter on stderr. */
export function byteProgress(label: string, total: number | undefined, enabled: boolean): Transform {
  const bar = enabled
    ? new cliProgress.SingleBar(
        {
          format: total
            ? `${label} [{bar}] {percentage}% {done_h} / {total_h}, {rate}, ETA {eta_formatted}`
            : `${label} {done_h}, {rate}`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const started = Date.now();
  bar?.start(total ?? 0, 0, progressPayload(0, total, 0));
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      done += chunk.length;
      bar?.update(done, progressPayload(done, total, Date.now() - started));
      callback(null, chunk);
    },
    flush(callback) {
      bar?.update(done, progressPayload(done, total, Date.now() - started));
      bar?.stop();
      callback();
    },
    destroy(err, callback) {
      bar?.stop();
      callback(err);
    },
  });
}

/** A running item counter for long listings. */
export function countProgress(label: string, enabled: boolean): { tick(): void; stop(): void } {
  if (!enabled) return { tick() {}, stop() {} };
  let count = 0;
  let last = 0;
  return {
    tick() {
      count++;
      const now = Date.now();
      if (now - last > 200) {
        last = now;
        process.stderr.write(`\r${label}: ${count} items`);
      }
    },
    stop() {
      if (last > 0) process.stderr.write(`\r${label}: ${count} items\n`);
    },
  };
}
