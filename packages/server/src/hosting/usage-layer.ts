import type {
  Backend,
  ByteSource,
  DefragOptions,
  ItemInfo,
  OperationOptions,
  QuotaInfo,
  StoreStreamOptions,
} from "@borgstore/core";
import {
  BackendLayer,
  defaultDefrag,
  type CheckedDefragSources,
  type LayerCalls,
  KeyedQueue,
  tappedSource,
} from "@borgstore/core/backend";
import { HttpError } from "../http-error.js";
import { AloneGate } from "./alone-gate.js";
import { sameFile } from "./same-file.js";
import type { QuotaLimits, RepoUsage } from "./usage.js";

/**
 * Keeps a repository's usage figures right as it changes: every store, delete and move of a name
 * takes that name's turn, reads the size it replaces and applies the difference once the change
 * is done (a failed one changes nothing). Uploads over REST reserved their size before their body
 * was read (hosting/router.ts); a defrag reserves the size of its result here, before it reads
 * its sources.
 */
export class UsageLayer extends BackendLayer {
  readonly usage: RepoUsage;
  readonly #limits: () => QuotaLimits;
  readonly #turns = new KeyedQueue();
  readonly #gate = new AloneGate();
  /** Called after create and destroy (the repository's record follows). */
  readonly #onLifecycle: (event: "create" | "destroy") => Promise<void>;

  constructor(inner: Backend, usage: RepoUsage, limits: () => QuotaLimits, onLifecycle: (event: "create" | "destroy") => Promise<void>) {
    super(inner);
    this.usage = usage;
    this.#limits = limits;
    this.#onLifecycle = onLifecycle;
  }

  protected override async _create(): Promise<void> {
    await this.inner.create();
    this.usage.set(0, 0);
    await this.#onLifecycle("create");
  }

  protected override async _destroy(): Promise<void> {
    await this.inner.destroy();
    this.usage.set(0, 0);
    this.usage.lastWrite = undefined;
    await this.#onLifecycle("destroy");
  }

  protected override _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    return this.#replacing(name, () => this.innerCalls.store(name, value, options), value.byteLength);
  }

  protected override _storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    let received = 0;
    const tapped = tappedSource(source, (chunk) => {
      received += chunk.byteLength;
    });
    return this.#replacing(name, () => this.innerCalls.storeStream(name, tapped, options), () => received);
  }

  protected override _delete(name: string, options?: OperationOptions): Promise<void> {
    return this.#inTurn(name, async () => {
      const before = await sizeOf(this.innerCalls, name);
      await this.innerCalls.delete(name, options);
      if (before !== undefined) this.usage.apply(-before, -1);
    });
  }

  protected override _move(currentName: string, newName: string, options?: OperationOptions): Promise<void> {
    return this.#moving(currentName, newName, async () => {
      // A move onto its own name leaves the object where it is: it replaces nothing.
      const replaced = sameFile(currentName) === sameFile(newName) ? undefined : await sizeOf(this.innerCalls, newName);
      await this.innerCalls.move(currentName, newName, options);
      if (replaced !== undefined) this.usage.apply(-replaced, -1);
    });
  }

  /** Through the base class's defrag (stores via this layer, so counted), with its result's size reserved. */
  protected override _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    return this.withReserved(sources.size, () => defaultDefrag(this, sources, options));
  }

  /** Runs `task` with `bytes` reserved against the repository's and its user's quota (QuotaExceeded if they do not fit). */
  async withReserved<T>(bytes: number, task: () => Promise<T>): Promise<T> {
    const release = this.usage.reserve(bytes, this.#limits());
    try {
      return await task();
    } finally {
      release();
    }
  }

  /**
   * The repository's limit and usage (or else the user's, over all their repositories), at once
   * from the figures; -1 for both without a quota, as every backend answers.
   */
  protected override async _quota(): Promise<QuotaInfo> {
    const limits = this.#limits();
    if (limits.repo !== undefined) return { limit: limits.repo, usage: this.usage.bytes };
    if (limits.user !== undefined) return { limit: limits.user, usage: this.usage.owner.bytes };
    return { limit: -1, usage: -1 };
  }

  /**
   * Append-only's store, in `name`'s turn so that no other store of it comes between the look and
   * the write: a name that holds nothing gets the value (`write`, which must reach the inner
   * backend with `received` counting its bytes); one that holds a value is left alone, and
   * `isSame(size)` says whether it is the one being stored (a retry) or not.
   */
  addOnly(
    name: string,
    write: (inner: LayerCalls) => Promise<void>,
    received: () => number,
    isSame: (existingSize: number) => Promise<boolean>,
  ): Promise<"stored" | "same" | "different"> {
    return this.#inTurn(name, async () => {
      const before = await sizeOf(this.innerCalls, name);
      if (before !== undefined) return (await isSame(before)) ? "same" : "different";
      await write(this.innerCalls);
      this.usage.apply(received(), 1);
      this.usage.stored();
      return "stored";
    });
  }

  /**
   * Append-only's move: onto a name that must still hold nothing when the move's turn comes. The
   * permission check before it (Backend.move) looked outside the turn, so an upload of that name
   * in flight then would otherwise be replaced by the move once it has been stored.
   */
  moveOntoNew(currentName: string, newName: string, options: OperationOptions | undefined, refuse: () => Error): Promise<void> {
    return this.#moving(currentName, newName, async () => {
      if ((await sizeOf(this.innerCalls, newName)) !== undefined) throw refuse();
      await this.innerCalls.move(currentName, newName, options);
    });
  }

  /** `task` in `name`'s turn, side by side with other names' (never across a directory's move). */
  #inTurn<T>(name: string, task: () => Promise<T>): Promise<T> {
    return this.#gate.together(() => this.#turns.run(sameFile(name), task));
  }

  /** A move in both names' turns; a directory's move (as seen in its turn) runs alone. */
  async #moving(currentName: string, newName: string, move: () => Promise<void>): Promise<void> {
    const names = [sameFile(currentName), sameFile(newName)];
    const moved = await this.#gate.together(() =>
      this.#turns.runAll(names, async () => {
        if (await isDirectory(this.innerCalls, currentName)) return false;
        await move();
        return true;
      }),
    );
    if (!moved) await this.#gate.alone(() => this.#turns.runAll(names, move), DIRECTORY_MOVE_WAIT_MS, directoryMoveBusy);
  }

  /**
   * A store by `write` (into the inner backend, `size` its bytes) as _store makes one: in the name's
   * turn, its usage applied; `onReplaced` is told when it replaced a value (the audit's "overwrite").
   */
  replace(name: string, write: (inner: LayerCalls) => Promise<void>, size: number | (() => number), onReplaced: () => void): Promise<void> {
    return this.#replacing(name, () => write(this.innerCalls), size, onReplaced);
  }

  #replacing(name: string, write: () => Promise<void>, size: number | (() => number), onReplaced?: () => void): Promise<void> {
    return this.#inTurn(name, async () => {
      const replaced = await this.innerCalls.info(name);
      const before = replaced.exists && !replaced.directory ? replaced.size : undefined;
      await write();
      const after = typeof size === "number" ? size : size();
      this.usage.apply(after - (before ?? 0), before === undefined ? 1 : 0);
      this.usage.stored();
      if (before !== undefined) onReplaced?.();
    });
  }
}

/** As long as BackendHost lets a request wait for its turn; then the move gives way (503). */
const DIRECTORY_MOVE_WAIT_MS = 2000;

function directoryMoveBusy(): HttpError {
  return new HttpError(503, "Service Unavailable: a directory's move waits for operations in progress, retry later", { "Retry-After": "1" });
}

async function isDirectory(backend: LayerCalls, name: string): Promise<boolean> {
  const info = await backend.info(name);
  return info.exists && info.directory;
}

/** The object's size, undefined when there is none. */
async function sizeOf(backend: LayerCalls, name: string): Promise<number | undefined> {
  const info: ItemInfo = await backend.info(name);
  return info.exists && !info.directory ? info.size : undefined;
}

/**
 * Measures a repository by listing it whole: what restarting after a crash costs (one list per
 * directory, one entry per object; posixfs, 65,536 data directories and 20,000 objects: 1.4 s).
 */
export async function measure(backend: Backend, signal?: AbortSignal): Promise<{ bytes: number; objects: number }> {
  let bytes = 0;
  let objects = 0;
  const walk = async (dir: string): Promise<void> => {
    for await (const item of backend.list(dir, { signal })) {
      const path = dir === "" ? item.name : `${dir}/${item.name}`;
      if (item.directory) await walk(path);
      else {
        bytes += item.size;
        objects++;
      }
    }
  };
  await walk("");
  return { bytes, objects };
}
