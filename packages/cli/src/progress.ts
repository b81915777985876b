import { Transform } from "node:stream";
import cliProgress from "cli-progress";

/** Progress bars draw only on a terminal; piped or redirected output stays clean. */
export function progressWanted(quiet: boolean): boolean {
  return !quiet && Boolean(process.stderr.isTTY);
}

/** Counts bytes passing through and shows a bar (with total) or a running counter on stderr. */
export function byteProgress(label: string, total: number | undefined, enabled: boolean): Transform {
  const bar = enabled
    ? new cliProgress.SingleBar(
        {
          format: total
            ? `${label} [{bar}] {percentage}% {value}/{total} bytes {eta_formatted}`
            : `${label} {value} bytes`,
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total ?? 0, 0);
  let done = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      done += chunk.length;
      bar?.update(done);
      callback(null, chunk);
    },
    flush(callback) {
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
