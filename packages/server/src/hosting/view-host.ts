import type { Backend } from "@borgstore/core";
import { BackendHost } from "../backend-host.js";

/**
 * A repository's BackendHost as one request sees it: the shared host admits it (open once,
 * create/destroy alone), and its operations run against `view` (its credential's PermissionView).
 */
export class ViewHost extends BackendHost {
  readonly #shared: BackendHost;

  constructor(shared: BackendHost, view: Backend) {
    super(view, { waitLimitMs: shared.waitLimitMs });
    this.#shared = shared;
  }

  override use<T>(operation: (backend: Backend) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#shared.use(() => operation(this.backend), signal);
  }

  /** In the repository's own order of changes, shared by every request's view of it. */
  override changing<T>(names: readonly string[], operation: (backend: Backend) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#shared.changing(names, () => operation(this.backend), signal);
  }

  override alone<T>(operation: (backend: Backend) => Promise<T>, waitLimitMs?: number, signal?: AbortSignal): Promise<T> {
    return this.#shared.alone(() => operation(this.backend), waitLimitMs, signal);
  }

  override close(): Promise<void> {
    return Promise.resolve();
  }
}
