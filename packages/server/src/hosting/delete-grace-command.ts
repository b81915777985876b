import type { Logger } from "../logger.js";
import { HostingConfigError, loadHostingConfig } from "./config.js";
import { KeptRestoreError, listKept, restoreKept } from "./delete-grace-restore.js";

/** `--kept user/repo` and `--restore user/repo --since TIME`: the operator's side of the delete grace. */
export async function runKeptCommand(options: { config: string; kept?: string; restore?: string; since?: string }, logger: Logger): Promise<void> {
  try {
    const config = await loadHostingConfig(options.config);
    if (options.kept !== undefined) {
      for (const line of await listKept(config, options.kept)) process.stdout.write(`${line}\n`);
      return;
    }
    const since = options.since === undefined ? Number.NaN : Date.parse(options.since);
    if (Number.isNaN(since)) throw new KeptRestoreError("--restore needs --since TIME (ISO 8601, e.g. 2026-12-06T10:00:00Z)");
    const restored = await restoreKept(config, options.restore as string, since);
    for (const item of restored) process.stdout.write(`restored\t${item.name}\t${item.size}\tkept ${new Date(item.keptAt).toISOString()}\n`);
    logger.info(`restore: ${restored.length} items put back in ${options.restore}`);
    await logger.flushed();
  } catch (err) {
    if (!(err instanceof HostingConfigError || err instanceof KeptRestoreError)) throw err;
    logger.error(`borgstore-server-rest: ${err.message}`);
    logger.flush();
    process.exit(2);
  }
}
