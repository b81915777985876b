import type { Logger } from "./logger.js";

/**
 * The handler of SIGTERM (and SIGINT): finishes running requests within `graceMs` through
 * `shutdown`, then exits 0, or 1 when the shutdown failed. Shared by the single-store and the
 * hosting mode's command lines.
 */
export function exitAfterShutdown(shutdown: (graceMs: number) => Promise<void>, graceMs: number, logger: Logger): (signal: string) => void {
  return (signal) => {
    logger.info(`${signal}: finishing running requests, then exiting`);
    shutdown(graceMs).then(
      () => process.exit(0),
      (err) => {
        logger.error(`shutdown failed: ${(err as Error).message}`);
        logger.flush();
        process.exit(1);
      },
    );
  };
}
