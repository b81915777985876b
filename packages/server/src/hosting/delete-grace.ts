import type { Backend } from "@borgstore/core";
import type { Logger } from "../logger.js";
import type { HostingConfig } from "./config.js";
import { KeptArea } from "./delete-grace-area.js";
import { type DeleteGrace, deleteGraceOf } from "./delete-grace-config.js";
import { DeleteGraceLayer, type KeptAccounting } from "./delete-grace-layer.js";

/** What Repositories needs of the delete grace: its layer around each repository, and the kept bytes to count. */
export interface DeleteGraceHooks {
  wrap(backend: Backend, user: string, repo: string, accounting: KeptAccounting): Backend;
  keptBytes(user: string, repo: string): Promise<number>;
}

/** A repository the purge can open to take purged bytes off its usage. */
export interface PurgeTarget {
  use(user: string, repo: string): Promise<{ repository: { store: { usage: { apply(bytes: number, objects: number): void } } }; release(): void }>;
}

/** Temp files of kept values a crash left behind go after this long at least (a copy in flight is never older). */
const TEMP_AGE_MS = 60_000;
const MAX_PURGE_INTERVAL_MS = 60_000;
const MIN_PURGE_INTERVAL_MS = 250;

/**
 * The delete grace of the hosting mode: every repository's store is wrapped in a DeleteGraceLayer
 * that follows the configuration in force (a reload turns it on or off for the next change), and
 * a purge removes kept values once their grace has passed — at start, then on a timer a quarter of
 * the shortest grace configured (at most a minute). A repository whose grace is off (now) keeps
 * what it kept: nothing is purged by a setting the operator may only have removed for a while.
 */
export class DeleteGraceService implements DeleteGraceHooks {
  readonly area: KeptArea;
  readonly #config: () => HostingConfig;
  #timer: NodeJS.Timeout | undefined;
  #purging: Promise<void> | undefined;
  #stopped = false;

  constructor(config: () => HostingConfig, area = KeptArea.under(config().stateDir)) {
    this.#config = config;
    this.area = area;
  }

  wrap(backend: Backend, user: string, repo: string, accounting: KeptAccounting): Backend {
    // Worked out once per configuration (every change of the repository asks): a reload makes a new one.
    let seen: HostingConfig | undefined;
    let grace: DeleteGrace | undefined;
    const graceInForce = () => {
      const config = this.#config();
      if (config !== seen) {
        grace = deleteGraceOf(config, user, repo);
        seen = config;
      }
      return grace;
    };
    return new DeleteGraceLayer(backend, { area: this.area, user, repo }, graceInForce, accounting);
  }

  keptBytes(user: string, repo: string): Promise<number> {
    return this.area.bytes(user, repo);
  }

  /** Purges now and then on the timer; failures are logged and tried again at the next round. */
  startPurging(target: PurgeTarget, logger: Logger): void {
    const round = () => {
      this.#purging = this.purge(target)
        .then((purged) => {
          for (const { user, repo, bytes } of purged) logger.info(`delete grace: purged ${bytes} kept bytes of ${user}/${repo}`);
        })
        .catch((err) => logger.error(`delete grace: purge failed: ${(err as Error).message}`))
        .finally(() => {
          this.#purging = undefined;
          if (this.#stopped) return;
          this.#timer = setTimeout(round, purgeInterval(this.#config()));
          this.#timer.unref();
        });
    };
    round();
  }

  /** Removes every kept value whose grace has passed, taking its bytes off its repository's usage: the repositories purged. */
  async purge(target: PurgeTarget, now = Date.now()): Promise<Array<{ user: string; repo: string; bytes: number }>> {
    const purged: Array<{ user: string; repo: string; bytes: number }> = [];
    for (const { user, repo } of await this.area.repositories()) {
      const grace = deleteGraceOf(this.#config(), user, repo);
      const before = grace ? now - grace.graceMs : 0;
      if (!(await this.area.anyKeptBefore(user, repo, before))) {
        // Only temp files a crash left behind, which never counted: no need to open the repository.
        await this.area.purge(user, repo, 0, now - TEMP_AGE_MS);
        continue;
      }
      const { repository, release } = await target.use(user, repo);
      try {
        const bytes = await this.area.purge(user, repo, before, now - TEMP_AGE_MS);
        repository.store.usage.apply(-bytes, 0);
        purged.push({ user, repo, bytes });
      } finally {
        release();
      }
    }
    return purged;
  }

  /** Stops the timer and waits for a purge in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#purging;
  }
}

function purgeInterval(config: HostingConfig): number {
  const graces = [config.repositories.deleteGrace, ...Object.values(config.users).map((u) => u?.deleteGrace), ...Object.values(config.repos).map((r) => r?.deleteGrace)]
    .map((setting) => setting?.graceMs ?? 0)
    .filter((ms) => ms > 0);
  const shortest = graces.length > 0 ? Math.min(...graces) : Number.POSITIVE_INFINITY;
  return Math.max(MIN_PURGE_INTERVAL_MS, Math.min(MAX_PURGE_INTERVAL_MS, Math.floor(shortest / 4)));
}
