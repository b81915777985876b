import { type RcdOptions, type RunningRcd, startRcd } from "./rcd.js";

/** A use of a shared rcd; release it exactly once. */
export interface RcdLease {
  readonly rcd: RunningRcd;
  /**
   * Gives the rcd back. The last user stops it, at once (lingerMs 0) or after lingerMs unless
   * someone takes it again meanwhile (create → open reuses one daemon instead of starting two).
   */
  release(lingerMs?: number): Promise<void>;
}

interface Shared {
  rcd: Promise<RunningRcd>;
  users: number;
  linger: NodeJS.Timeout | undefined;
}

/**
 * One rcd serves any number of remotes (the remote is a parameter of every call), so backends
 * with the same binary and flags share one daemon while any of them needs it.
 */
const daemons = new Map<string, Shared>();

async function retire(key: string, shared: Shared): Promise<void> {
  if (daemons.get(key) === shared) daemons.delete(key);
  clearTimeout(shared.linger);
  await (await shared.rcd).stop();
}

export async function acquireRcd(options: RcdOptions): Promise<RcdLease> {
  const key = JSON.stringify([options.binary, options.debug, options.extraArgs]);
  for (;;) {
    let shared = daemons.get(key);
    if (!shared) {
      const created: Shared = { rcd: startRcd(options), users: 0, linger: undefined };
      created.rcd.catch(() => {
        if (daemons.get(key) === created) daemons.delete(key);
      });
      daemons.set(key, created);
      shared = created;
    }
    const current = shared;
    current.users++;
    clearTimeout(current.linger);
    current.linger = undefined;
    let rcd: RunningRcd;
    try {
      rcd = await current.rcd;
    } catch (err) {
      current.users--;
      throw err;
    }
    if (!rcd.alive) {
      // It died (crashed or was killed): start a fresh one.
      current.users--;
      if (daemons.get(key) === current) daemons.delete(key);
      continue;
    }
    let released = false;
    return {
      rcd,
      async release(lingerMs = 0) {
        if (released) return;
        released = true;
        current.users--;
        if (current.users > 0) return;
        if (lingerMs > 0 && rcd.alive) {
          current.linger = setTimeout(() => void retire(key, current), lingerMs);
          current.linger.unref();
        } else await retire(key, current);
      },
    };
  }
}
