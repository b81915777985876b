import {
  type Backend,
  type ByteSource,
  type DefragOptions,
  ErrorCodes,
  type OperationOptions,
  ObjectNotFound,
  PermissionDenied,
  type StoreStreamOptions,
  isBorgStoreError,
} from "@borgstore/core";
import { BackendLayer, defaultDefrag, type CheckedDefragSources } from "@borgstore/core/backend";
import { type DeleteGrace, holdsProtected, isProtected } from "./delete-grace-config.js";
import { type KeptArea, type KeptItem, type KeptReason, keptCharge } from "./delete-grace-area.js";
import { sameFile } from "./same-file.js";

/** How kept bytes count against a repository's quota (repositories.ts wires them to its usage). */
export interface KeptAccounting {
  /** Reserves `bytes` that a change will add, or throws QuotaExceeded; returns the release. */
  reserve(bytes: number): () => void;
  /** Kept bytes added (a change happened) or removed (purged). */
  apply(bytes: number): void;
}

/** Where a layer keeps what it replaces: the kept area and the repository's folder in it. */
export interface KeptPlace {
  readonly area: KeptArea;
  readonly user: string;
  readonly repo: string;
}

/**
 * Delete grace for one repository: before a delete, an overwrite (a store, or a move onto a name)
 * or a move of a protected name (out of the protected namespaces or to another protected name), the
 * value that goes away is copied to the kept area
 * (delete-grace-area.ts); the change then happens as without grace. If the change fails the copy
 * is removed again, so a client sees exactly what it would see without grace. Sits below the
 * usage layer, which runs every change of a name in that name's turn: concurrent overwrites of one
 * name each keep the value they replace. A soft delete (a move to `name.del` in the same
 * namespace) keeps nothing: the item stays in the store, visible to the client as deleted, and is
 * kept when it is deleted for good. With a grace in force, destroying the repository and moving a
 * protected folder are refused: they would remove (or carry off) every value without keeping one.
 */
export class DeleteGraceLayer extends BackendLayer {
  readonly #place: KeptPlace;
  readonly #grace: () => DeleteGrace | undefined;
  readonly #accounting: KeptAccounting;

  constructor(inner: Backend, place: KeptPlace, grace: () => DeleteGrace | undefined, accounting: KeptAccounting) {
    super(inner);
    this.#place = place;
    this.#grace = grace;
    this.#accounting = accounting;
  }

  protected override _destroy(): Promise<void> {
    if (this.#grace())
      return Promise.reject(new PermissionDenied("this repository has a delete grace: destroying it is left to the server's operator"));
    return this.inner.destroy();
  }

  protected override _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    return this.#keeping(this.#replaced(name), () => this.innerCalls.store(name, value, options));
  }

  protected override _storeStream(name: string, source: ByteSource, options?: StoreStreamOptions): Promise<void> {
    return this.#keeping(this.#replaced(name), () => this.innerCalls.storeStream(name, source, options));
  }

  protected override _delete(name: string, options?: OperationOptions): Promise<void> {
    const grace = this.#grace();
    return this.#keeping(grace && isProtected(grace, name) ? [[name, "delete"]] : KEEP_NOTHING, () => this.innerCalls.delete(name, options));
  }

  protected override async _move(currentName: string, newName: string, options?: OperationOptions): Promise<void> {
    const grace = this.#grace();
    // Onto itself: nothing goes away, nothing to keep.
    if (!grace || sameFile(currentName) === sameFile(newName)) return this.innerCalls.move(currentName, newName, options);
    if (holdsProtected(grace, currentName)) {
      // A folder would take every value in it along, none of them kept (a file rename moves a
      // folder too). The usage layer holds this name's turn, so a file here stays a file until the move.
      const info = await this.innerCalls.info(currentName);
      if (!info.exists) throw new ObjectNotFound(currentName);
      if (info.directory) throw new PermissionDenied(`this repository has a delete grace: the folder ${currentName} cannot be moved`);
    }
    const keeps: Array<[string, KeptReason]> = [];
    if (isProtected(grace, newName)) keeps.push([newName, "overwrite"]);
    // Moved out of the protected namespaces, the value could then be deleted without grace; moved
    // to another protected name, a restore could not put it back under its own name (borg's names
    // are their content's id). A soft delete or its undo (name <-> name.del) leaves the value findable.
    if (isProtected(grace, currentName) && !(isProtected(grace, newName) && isSoftDeletePair(currentName, newName)))
      keeps.push([currentName, "move"]);
    return this.#keeping(keeps, () => this.innerCalls.move(currentName, newName, options));
  }

  /** Core's defrag through this layer's store (an existing target is kept), never the inner backend's own. */
  protected override _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    return defaultDefrag(this, sources, options);
  }

  #replaced(name: string): ReadonlyArray<[string, KeptReason]> {
    const grace = this.#grace();
    return grace && isProtected(grace, name) ? [[name, "overwrite"]] : KEEP_NOTHING;
  }

  #keeping(keeps: ReadonlyArray<[string, KeptReason]>, change: () => Promise<void>): Promise<void> {
    // Nothing to keep (no grace, or a name outside its namespaces): the change as it is, no async frame.
    return keeps.length === 0 ? change() : this.#keepingThen(keeps, change);
  }

  async #keepingThen(keeps: ReadonlyArray<[string, KeptReason]>, change: () => Promise<void>): Promise<void> {
    const kept: KeptItem[] = [];
    const releases: Array<() => void> = [];
    try {
      try {
        for (const [name, reason] of keeps) {
          const item = await this.#keep(name, reason, releases);
          if (item) kept.push(item);
        }
        await change();
      } catch (err) {
        await Promise.all(kept.map((item) => this.#place.area.discard(item)));
        throw err;
      }
      for (const item of kept) this.#accounting.apply(keptCharge(item.size));
    } finally {
      for (const release of releases) release();
    }
  }

  /** Copies the value of `name` to the kept area; undefined when there is none (the change answers as without grace). */
  async #keep(name: string, reason: KeptReason, releases: Array<() => void>): Promise<KeptItem | undefined> {
    // A look first: most stores in protected namespaces add a new name (borg's chunks), with nothing to keep.
    const info = await this.innerCalls.info(name);
    if (!info.exists || info.directory) return undefined;
    // A move out of protection leaves the value in the store and adds its copy: it must fit the
    // quota. A delete or overwrite takes the value's bytes off the store, so only what the kept
    // item counts beyond them must fit (a small value counts as KEPT_ITEM_MIN_BYTES once kept).
    const added = reason === "move" ? keptCharge(info.size) : keptCharge(info.size) - info.size;
    if (reason === "move" || added > 0) releases.push(this.#accounting.reserve(added));
    const { area, user, repo } = this.#place;
    return area.keep(user, repo, name, reason, async () => {
      try {
        return await this.inner.loadStream(name);
      } catch (err) {
        if (isBorgStoreError(err, ErrorCodes.OBJECT_NOT_FOUND)) return undefined;
        throw err;
      }
    });
  }
}

/** A change that keeps no value (no grace, or a name outside its namespaces). */
const KEEP_NOTHING: ReadonlyArray<[string, KeptReason]> = Object.freeze([]);

/** `name` and `name.del`, either way round: borg's soft delete and its undo. */
function isSoftDeletePair(currentName: string, newName: string): boolean {
  return newName === `${currentName}.del` || currentName === `${newName}.del`;
}
