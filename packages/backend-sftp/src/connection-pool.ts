import { type ConnectionTimeouts, SftpConnection } from "./connection.js";
import { KnownHosts } from "./known-hosts.js";
import type { SshSettings } from "./ssh-settings.js";

/**
 * Idle connections by settings, so create → open → close → destroy, and other backends for the
 * same server, do not pay an ssh handshake each. An idle connection does not keep the process
 * alive and is closed after `idleTimeout` ms.
 */
const idle = new Map<string, Set<SftpConnection>>();
const timers = new WeakMap<SftpConnection, NodeJS.Timeout>();

/** Connections are shared only between backends with the same settings and channel count. */
function keyOf(settings: SshSettings, channels: number): string {
  return `${channels} ${JSON.stringify(settings)}`;
}

/** An idle connection for these settings (reused: true) or a new one. */
export async function acquireConnection(
  settings: SshSettings,
  timeouts: ConnectionTimeouts,
  channels = 1,
): Promise<{ conn: SftpConnection; reused: boolean }> {
  const set = idle.get(keyOf(settings, channels));
  for (const conn of set ?? []) {
    set?.delete(conn);
    clearTimeout(timers.get(conn));
    if (conn.lost) continue;
    if (!stillTrusted(settings, conn)) {
      conn.close(); // a new connection reports why
      continue;
    }
    conn.setKeepsProcessAlive(true);
    return { conn, reused: true };
  }
  return { conn: await SftpConnection.connect(settings, timeouts, channels), reused: false };
}

/** Whether known_hosts (as it is now: it may have changed while the connection idled) still accepts the connection's host key. */
function stillTrusted(settings: SshSettings, conn: SftpConnection): boolean {
  if (!conn.hostKey) return false;
  try {
    KnownHosts.load(settings.knownHostsFiles).verify(settings.knownHostsName, conn.hostKey);
    return true;
  } catch {
    return false;
  }
}

/** Hands a connection back: kept idle for a while when healthy, else closed. */
export function releaseConnection(settings: SshSettings, conn: SftpConnection, idleTimeout: number): void {
  if (conn.lost || !(idleTimeout > 0)) {
    conn.close();
    return;
  }
  const key = keyOf(settings, conn.channelsWanted);
  let set = idle.get(key);
  if (!set) idle.set(key, (set = new Set()));
  const pool = set;
  pool.add(conn);
  conn.setKeepsProcessAlive(false);
  const timer = setTimeout(() => {
    pool.delete(conn);
    if (pool.size === 0 && idle.get(key) === pool) idle.delete(key);
    conn.close();
  }, idleTimeout);
  timer.unref();
  timers.set(conn, timer);
}
