import { isBorgStoreError } from "@borgstore/core";
import type { BackendHost } from "../backend-host.js";

/** What /healthz answers: 200 with "ok", or 503 with the reason. */
export interface Health {
  /** Serving, and the backend open or openable. */
  ok: boolean;
  /** Why not (a stable code or a short phrase: never a path or a message from the backend). */
  reason?: string;
}

/**
 * The single store's health: serving (not shutting down) and its backend open, or opened now
 * (a store that was never created, or storage that is gone, is unhealthy).
 */
export async function backendHealth(host: BackendHost, shuttingDown: () => boolean, timeoutMs = 5_000): Promise<Health> {
  if (shuttingDown()) return { ok: false, reason: "shutting down" };
  if (host.backend.opened) return { ok: true };
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    await host.use(async () => undefined, signal);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: isBorgStoreError(err) ? `backend cannot be opened: ${err.code}` : "backend cannot be opened" };
  }
}
