import { abortable, abortableSource, discardSource, raceAbort, throwIfAborted, underSignal } from "./abort.js";
import { asBytes, collectBytes, sizedBytes, sizedSource, verifiedSource } from "./byte-source.js";
import { type CheckedDefragSources, checkDefragSources, defaultDefrag } from "./defrag.js";
import { BackendMustBeOpen, BackendMustNotBeOpen, InvalidArgument, ObjectNotFound, PermissionDenied } from "./errors.js";
import { openOnFirstStep } from "./first-step.js";
import { checkHashAlgorithm, streamDigest } from "./hashing.js";
import type { HashAlgorithm } from "./hash-algorithm.js";
import { validateItemName, validateName } from "./names.js";
import { checkNestingLevels } from "./nesting.js";
import { Required, checkPermission, mayBeGrantedBelow, permits } from "./permissions.js";
import { validateLoadOptions } from "./range.js";
import { settled } from "./settled.js";
import type {
  BackendCapabilities,
  ByteSource,
  DefragOptions,
  DefragSource,
  ItemInfo,
  BufferLoadOptions,
  LoadOptions,
  OperationOptions,
  Permissions,
  QuotaInfo,
  SizedByteSource,
  StoreStreamOptions,
} from "./types.js";

/** Options every backend constructor accepts. */
export interface BackendOptions {
  /** Path → letters from "lrwWD" (docs/rest-protocol.md#permissions); absent or empty = unrestricted. Enforced by core for every backend. */
  permissions?: Permissions;
}

/**
 * What a layer (BackendLayer) calls on the backend it wraps. The layer's own public method has
 * validated the names and options once and watches the signal for the whole call, so these check
 * only what belongs to the wrapped backend: its open state, its permissions, and the signal before
 * a mutation starts (the layer may have waited for a turn meanwhile). abstract-level's split: the
 * public methods validate, what runs below them does not; a stack of layers validates once.
 */
export interface LayerCalls {
  /** The wrapped backend's info of `name`. */
  info(name: string, options?: OperationOptions): Promise<ItemInfo>;
  /** The wrapped backend's load of `name` (whole, a range, or into a buffer). */
  load(name: string, options: BufferLoadOptions): Promise<Uint8Array>;
  /** The wrapped backend's source as it is: the layer's public loadStream enforces its size. */
  loadStream(name: string, options: LoadOptions): Promise<SizedByteSource>;
  /** The wrapped backend's store of `value` under `name`, after its store permission check. */
  store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void>;
  /** `source` as the layer's public storeStream checked it (size, sha256, signal). */
  storeStream(name: string, source: ByteSource, options?: StoreStreamOptions): Promise<void>;
  /** The wrapped backend's delete of `name`. */
  delete(name: string, options?: OperationOptions): Promise<void>;
  /** The wrapped backend's move of `currentName` to `newName`. */
  move(currentName: string, newName: string, options?: OperationOptions): Promise<void>;
  /** The wrapped backend's mkdir of `name`. */
  mkdir(name: string, options?: OperationOptions): Promise<void>;
  /** The wrapped backend's rmdir of `name`. */
  rmdir(name: string, options?: OperationOptions): Promise<void>;
  /** The wrapped backend's listing of the directory `name`. */
  list(name: string, options?: OperationOptions): AsyncIterable<ItemInfo>;
  /** The wrapped backend's digest of `name` with `algorithm`. */
  hash(name: string, algorithm: string, options?: OperationOptions): Promise<string>;
  /** The wrapped backend's quota. */
  quota(options?: OperationOptions): Promise<QuotaInfo>;
}

let makeLayerCalls: (backend: Backend) => LayerCalls;

/** The calls a layer makes into `backend`, the backend it wraps (see LayerCalls). */
export function layerCallsOf(backend: Backend): LayerCalls {
  return makeLayerCalls(backend);
}

/** Values accepted by store(). Views are stored as their raw bytes. */
export type StorableValue = Uint8Array | ArrayBufferView | ArrayBuffer;

/**
 * A storage backend. The public methods (create, load, store, …) validate names, arguments,
 * open state and permissions once, here; a backend author implements only the `_underscore`
 * primitives, which receive valid names and run only in the right state.
 *
 * Primitives to implement: _create, _destroy, _open, _close, _mkdir, _rmdir, _info, _load,
 * _store, _delete, _move, _list. Optional: _loadStream, _storeStream (native streaming),
 * _hash (server-side hashing), _quota, _defrag (server-side defrag).
 */
export abstract class Backend {
  /** Declared by each backend; the conformance kit reads it. */
  abstract readonly capabilities: BackendCapabilities;
  /** Create every nesting directory up front (Store.create_levels); false for all shipped backends. */
  readonly precreateDirs: boolean = false;
  /** Path → permission letters, or undefined when unrestricted; core checks them before every primitive. */
  protected readonly permissions: Permissions | undefined;
  #opened = false;
  /** The open under way, which another open waits for. */
  #opening: Promise<void> | undefined;
  #layerCalls: LayerCalls | undefined;

  constructor(options: BackendOptions = {}) {
    this.permissions = options.permissions && Object.keys(options.permissions).length > 0 ? options.permissions : undefined;
  }

  /** True between open() and close() (a layer: while the backend it wraps is open). */
  get opened(): boolean {
    return this.#opened;
  }

  /** Text that identifies the storage location; servers redact it from error messages. */
  get location(): string | undefined {
    return undefined;
  }

  // ---- primitives -------------------------------------------------------------------------

  /** Creates the empty storage location; throws BackendAlreadyExists if it exists. */
  protected abstract _create(): Promise<void>;
  /** Deletes the storage location and everything in it; throws BackendDoesNotExist if missing. */
  protected abstract _destroy(): Promise<void>;
  /** Connects to existing storage; throws BackendDoesNotExist if it was never created. */
  protected abstract _open(): Promise<void>;
  /** Releases what _open acquired (connections, handles). */
  protected abstract _close(): Promise<void>;
  // Every primitive gets the caller's options; `signal` is there to stop long transfers early.
  // Core already checks it before each call and stops stream sources with it (see abort.ts).
  /** Creates directory `name` and its missing parents; an existing one is fine. */
  protected abstract _mkdir(name: string, options?: OperationOptions): Promise<void>;
  /** Removes the empty directory `name`. */
  protected abstract _rmdir(name: string, options?: OperationOptions): Promise<void>;
  /** Must return exists: false (size 0) for a missing name, never throw ObjectNotFound. */
  protected abstract _info(name: string, options?: OperationOptions): Promise<ItemInfo>;
  /** offset may be negative (from the end); see resolveRange. */
  protected abstract _load(name: string, options: BufferLoadOptions): Promise<Uint8Array>;
  /** Atomic: the name shows either the old value or the whole new one, never a part. */
  protected abstract _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void>;
  /** Deletes object `name`; throws ObjectNotFound if missing. */
  protected abstract _delete(name: string, options?: OperationOptions): Promise<void>;
  /** Overwrites `newName`. */
  protected abstract _move(currentName: string, newName: string, options?: OperationOptions): Promise<void>;
  /** Direct children of `name`, sorted by name, invalid names skipped; ObjectNotFound for a missing directory. */
  protected abstract _list(name: string, options?: OperationOptions): AsyncIterable<ItemInfo>;

  /**
   * Default: one chunk from _load. Backends override to stream. Must throw ObjectNotFound before
   * returning. The source's `size` must come from what the bytes are read from (fstat of the
   * opened handle, the response's Content-Length), never from another look-up by name: the name
   * may be overwritten with a value of another size in between (sizedSource builds one).
   */
  protected async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    return sizedBytes(await this._load(name, options));
  }

  /**
   * Default: collect, then _store. Backends override to stream to a temp object, and must consume
   * `source` completely before making the object visible (core's size/hash checks throw at the end).
   * `options` are the caller's announced size/sha256 (already enforced on `source` by core); a
   * backend may use them, e.g. to send a Content-Length up front.
   */
  protected async _storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    const value = await collectBytes(source);
    throwIfAborted(options.signal);
    await this._store(name, value, { signal: options.signal });
  }

  /** Default: stream the object through a hasher in this process. */
  protected async _hash(name: string, algorithm: string, options: OperationOptions = {}): Promise<string> {
    const { signal } = options;
    return streamDigest(algorithm, abortableSource(await exactly(await this._loadStream(name, { signal })), signal));
  }

  /** Default: no quota (limit and usage -1). Backends with a quota override it. */
  protected async _quota(_options?: OperationOptions): Promise<QuotaInfo> {
    return { limit: -1, usage: -1 };
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Creates the storage; the backend must be closed. BackendAlreadyExists if it exists. */
  async create(): Promise<void> {
    this.#assertClosed();
    this.checkLifecyclePermission("create");
    await this._create();
  }

  /** Deletes the storage and all its contents; the backend must be closed. */
  async destroy(): Promise<void> {
    this.#assertClosed();
    this.checkLifecyclePermission("destroy");
    await this._destroy();
  }

  /**
   * Raises PermissionDenied now if storing `name` is not permitted (a new object needs 'w', an
   * overwrite 'W'): lets a server refuse an upload before reading its body.
   */
  async checkStorePermission(name: string, options: OperationOptions = {}): Promise<void> {
    this.#prepare(name);
    if (!this.permissions) return throwIfAborted(options.signal); // nothing to look up
    await underSignal(options.signal, () => this.#checkStorePermission(name));
  }

  /**
   * Raises PermissionDenied now if create or destroy is not permitted, touching no storage: a
   * server checks this before it waits for other requests to finish.
   */
  checkLifecyclePermission(operation: "create" | "destroy"): void {
    checkPermission(this.permissions, "", Required[operation]);
  }

  /**
   * Opens existing storage for operations; BackendDoesNotExist if it was never created. An open
   * while another is under way waits for it: BackendMustNotBeOpen once that one succeeded (two
   * _open calls would each acquire their own session, one of them never released).
   */
  async open(): Promise<void> {
    while (this.#opening) await this.#opening.catch(() => undefined);
    this.#assertClosed();
    const opening = this._open();
    this.#opening = opening;
    try {
      await opening;
      this.#opened = true;
    } finally {
      this.#opening = undefined;
    }
  }

  /** Closes the backend; it may be opened again. */
  async close(): Promise<void> {
    // A close while an open is under way closes what that open opened, instead of failing and
    // leaving the backend open (with its sessions) behind the caller's back.
    while (this.#opening) await this.#opening.catch(() => undefined);
    this.#assertOpen();
    this.#opened = false;
    await this._close();
  }

  /** For `await using backend = …`: closes the backend if it is still open. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.opened) await this.close();
  }

  // ---- operations -------------------------------------------------------------------------

  // Mutations check the signal before they start and then run to the end (they are atomic);
  // reads give up at once when it fires.

  /** Creates directory `name` (and its parents). */
  async mkdir(name: string, options: OperationOptions = {}): Promise<void> {
    this.#prepare(name, Required.mkdir);
    await underSignal(options.signal, () => this._mkdir(name, options));
  }

  /** Removes the empty directory `name`. */
  async rmdir(name: string, options: OperationOptions = {}): Promise<void> {
    this.#prepare(name, Required.rmdir);
    await underSignal(options.signal, () => this._rmdir(name, options));
  }

  /** Size, type and access time of `name`; `exists: false` for a missing name. */
  async info(name: string, options: OperationOptions = {}): Promise<ItemInfo> {
    this.#prepare(name, Required.info);
    const { signal } = options;
    // Without a signal there is nothing to race: each layer of a Store's stack takes this path.
    if (!signal) return this._info(name, options);
    throwIfAborted(signal);
    return raceAbort(this._info(name, options), signal);
  }

  /** The value of `name`, or the `offset`/`size` part of it (into `options.into` where it fits); ObjectNotFound if missing. */
  async load(name: string, options: BufferLoadOptions = {}): Promise<Uint8Array> {
    this.#prepareItem(name, Required.read);
    validateLoadOptions(options);
    const { signal } = options;
    // Without a signal there is nothing to race: the hot path of small loads skips two promises.
    if (!signal) return this._load(name, options);
    // The caller's buffer is promised to be left alone once the load settles: with `into`, an
    // abort is answered only after the backend's read into it has ended (a late read would still
    // write there), so the load ends as soon as the backend honours the signal itself.
    if (options.into) return underSignal(signal, () => settledThenAborted(this._load(name, options), signal));
    throwIfAborted(signal);
    return raceAbort(this._load(name, options), signal);
  }

  /**
   * Like load, as a stream of chunks that announces its exact `size` up front (a Content-Length
   * for exactly these bytes, even while the name is being overwritten). ObjectNotFound is thrown
   * before the stream is returned; a stream that ends before `size` bytes throws. With a signal,
   * the stream stops with ABORTED when it fires and the transfer is closed.
   */
  async loadStream(name: string, options: LoadOptions = {}): Promise<SizedByteSource> {
    this.#prepareItem(name, Required.read);
    validateLoadOptions(options);
    const { signal } = options;
    const source = await underSignal(signal, () => raceAbort(this._loadStream(name, options), signal, discardSource));
    const exact = await underSignal(signal, () => exactly(source));
    return signal ? sizedSource(abortableSource(exact, signal), exact.size, exact.total) : exact;
  }

  /** Stores `value` under `name` atomically, replacing any old value. */
  async store(name: string, value: StorableValue, options: OperationOptions = {}): Promise<void> {
    this.#prepareItem(name);
    const bytes = asBytes(value);
    // Nothing to wait for or check: the hot path (each layer of a Store's stack takes it) skips two promises.
    if (!this.permissions) return options.signal ? underSignal(options.signal, () => this._store(name, bytes, options)) : this._store(name, bytes, options);
    await underSignal(options.signal, async () => {
      await this.#checkStorePermission(name);
      throwIfAborted(options.signal);
      await this._store(name, bytes, options);
    });
  }

  /**
   * Stores a value arriving as a stream, without holding it whole in memory where the backend
   * streams. With `size` or `sha256`, a mismatch aborts the store and nothing becomes visible.
   * Chunks are handed over: the backend may keep references to them (a multipart part being
   * filled, a write still queued) until this call settles, so the source must not change a chunk
   * after yielding it before then; once the call settles, the backend keeps none of them.
   */
  async storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    this.#prepareItem(name);
    if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0))
      throw new InvalidArgument(`size must be a non-negative integer, but got: ${options.size}`);
    const { signal } = options;
    await underSignal(signal, async () => {
      await this.#checkStorePermission(name);
      const checked = options.size === undefined && options.sha256 === undefined ? source : verifiedSource(source, options);
      // Also fires after the last chunk, before the backend sees the end: an abort up to then stores nothing.
      await this._storeStream(name, abortableSource(checked, signal), options);
    });
  }

  /** Deletes object `name`; ObjectNotFound if missing. */
  async delete(name: string, options: OperationOptions = {}): Promise<void> {
    this.#prepareItem(name, Required.delete);
    if (!options.signal) return this._delete(name, options);
    await underSignal(options.signal, () => this._delete(name, options));
  }

  /** Renames `currentName` to `newName`, replacing what was there. */
  async move(currentName: string, newName: string, options: OperationOptions = {}): Promise<void> {
    this.#prepareItem(currentName, Required.moveSource);
    validateItemName(newName);
    await underSignal(options.signal, async () => {
      await this.#checkStorePermission(newName);
      throwIfAborted(options.signal);
      await this._move(currentName, newName, options);
    });
  }

  /** Direct children of `name`, sorted. State and name errors surface at the first iteration step. */
  list(name: string, options: OperationOptions = {}): AsyncIterable<ItemInfo> {
    return openOnFirstStep(() => {
      this.#prepare(name, Required.list);
      throwIfAborted(options.signal);
      return abortable(this._list(name, options), options.signal);
    });
  }

  /** Hex digest of the value of `name` with `algorithm` (default sha256). */
  async hash(name: string, algorithm: HashAlgorithm = "sha256", options: OperationOptions = {}): Promise<string> {
    this.#prepareItem(name, Required.read);
    checkHashAlgorithm(algorithm);
    throwIfAborted(options.signal);
    return raceAbort(this._hash(name, algorithm, options), options.signal);
  }

  /** Quota limit and usage in bytes (-1 each without a quota). */
  async quota(options: OperationOptions = {}): Promise<QuotaInfo> {
    this.#assertOpen();
    throwIfAborted(options.signal);
    return raceAbort(this._quota(options), options.signal);
  }

  /**
   * Concatenates byte ranges of existing objects into one new object. Source names include their
   * namespace. Without a target, the name is the digest of the result under `namespace`, nested
   * `levels` deep. Returns the target name. Checks the options and the sources, then runs _defrag.
   */
  async defrag(sources: readonly DefragSource[], options: DefragOptions = {}): Promise<string> {
    this.#assertOpen();
    this.checkDefragTarget(options);
    const checked = checkDefragSources(sources, (name) => this.#prepareItem(name, Required.read));
    return this._defrag(checked, options);
  }

  /**
   * The defrag primitive: receives valid options and sources checked up to the first bad one
   * (see CheckedDefragSources), and must raise that one's error only after reading the sources
   * before it, as the reference does. Override it to defrag where the data is (a server).
   *
   * This default is {@link defaultDefrag}: the ranges streamed through loadStream into one
   * storeStream (memory stays at a few chunks); a digest-derived name is hashed in a first pass
   * and checked in the second.
   */
  protected _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    return defaultDefrag(this, sources, options);
  }

  /**
   * Raises now, touching no storage, if defrag `options` are invalid (InvalidArgument,
   * InvalidName) or the target can't be written (PermissionDenied): a server checks this before
   * it reads the source list. For a digest-named target, denied only when no name under
   * `namespace` may be written.
   */
  checkDefragTarget(options: DefragOptions): void {
    const { target, algorithm, namespace, levels = 0 } = options;
    checkNestingLevels(levels);
    if (!target && !algorithm) throw new InvalidArgument("Either target or algorithm must be given for defrag");
    if (target) {
      validateItemName(target);
      checkPermission(this.permissions, target, Required.storeNew);
      return;
    }
    checkHashAlgorithm(algorithm as string);
    const ns = namespace ? namespace.replace(/\/+$/, "") : "";
    if (ns !== "") validateName(ns);
    if (!mayBeGrantedBelow(this.permissions, ns, Required.storeNew))
      throw new PermissionDenied(`One of permissions '${Required.storeNew}' required for names under '${ns}'`);
  }

  // ---- calls from a layer above (LayerCalls) ------------------------------------------------

  static {
    // Made once per backend: a layer made per request (a server's permission view) shares them.
    // No async frames: each call's promise is the primitive's own (an async arrow returning it
    // cost every layer of every call a promise and two turns); a check that throws rejects it.
    makeLayerCalls = (backend) => (backend.#layerCalls ??= {
      info: (name, options = {}) =>
        settled(() => {
          backend.#assertPermitted(name, Required.info);
          return backend._info(name, options);
        }),
      load: (name, options) =>
        settled(() => {
          backend.#assertPermitted(name, Required.read);
          return backend._load(name, options);
        }),
      loadStream: (name, options) =>
        settled(() => {
          backend.#assertPermitted(name, Required.read);
          return backend._loadStream(name, options);
        }),
      store: (name, value, options = {}) => backend.#storeChecked(name, options, () => backend._store(name, value, options)),
      storeStream: (name, source, options = {}) =>
        backend.#storeChecked(name, options, () => backend._storeStream(name, source, options)),
      delete: (name, options = {}) =>
        settled(() => {
          backend.#assertPermitted(name, Required.delete);
          throwIfAborted(options.signal);
          return backend._delete(name, options);
        }),
      move: async (currentName, newName, options = {}) => {
        backend.#assertPermitted(currentName, Required.moveSource);
        await backend.#checkStorePermission(newName);
        throwIfAborted(options.signal);
        return backend._move(currentName, newName, options);
      },
      mkdir: (name, options = {}) =>
        settled(() => {
          backend.#assertPermitted(name, Required.mkdir);
          throwIfAborted(options.signal);
          return backend._mkdir(name, options);
        }),
      rmdir: (name, options = {}) =>
        settled(() => {
          backend.#assertPermitted(name, Required.rmdir);
          throwIfAborted(options.signal);
          return backend._rmdir(name, options);
        }),
      list: (name, options = {}) =>
        openOnFirstStep(() => {
          backend.#assertPermitted(name, Required.list);
          return backend._list(name, options);
        }),
      hash: (name, algorithm, options = {}) =>
        settled(() => {
          backend.#assertPermitted(name, Required.read);
          return backend._hash(name, algorithm, options);
        }),
      quota: (options = {}) =>
        settled(() => {
          backend.#assertOpen();
          return backend._quota(options);
        }),
    });
  }

  // ---- checks -----------------------------------------------------------------------------

  #assertOpen(): void {
    if (!this.opened) throw new BackendMustBeOpen("backend must be open");
  }

  #assertClosed(): void {
    if (this.opened) throw new BackendMustNotBeOpen("backend must not be open");
  }

  #prepare(name: string, required?: string): void {
    validateName(name);
    this.#assertOpen();
    if (required) checkPermission(this.permissions, name, required);
  }

  /** #prepare for an operation on one item: the store root is none. */
  #prepareItem(name: string, required?: string): void {
    validateItemName(name);
    this.#assertOpen();
    if (required) checkPermission(this.permissions, name, required);
  }

  /** Open, and `name` permitted `required` (a name a layer above has validated). */
  #assertPermitted(name: string, required: string): void {
    this.#assertOpen();
    if (this.permissions) checkPermission(this.permissions, name, required);
  }

  /**
   * `write` (a store primitive) once this backend is open, the store permitted and the signal not
   * fired. Without permissions there is nothing to look up: no await (a turn per layer of every store).
   */
  #storeChecked(name: string, options: OperationOptions, write: () => Promise<void>): Promise<void> {
    return settled(() => {
      this.#assertOpen();
      if (!this.permissions) {
        throwIfAborted(options.signal);
        return write();
      }
      return this.#checkStorePermission(name).then(() => {
        throwIfAborted(options.signal);
        return write();
      });
    });
  }

  async #checkStorePermission(name: string): Promise<void> {
    // 'W' permits a store whether or not the object exists: nothing to look up.
    if (!this.permissions || permits(this.permissions, name, Required.overwrite)) return;
    const exists = (await this._info(name)).exists;
    checkPermission(this.permissions, name, exists ? Required.overwrite : Required.storeNew);
  }
}

/** Enforces a backend's announced size on its stream (once, here, for every backend). */
async function exactly(source: ByteSource & { size?: unknown }): Promise<SizedByteSource> {
  // A backend written before sources carried their size: its bytes are the only trustworthy count.
  if (typeof source.size !== "number") return sizedBytes(await collectBytes(source));
  const { total } = source as { total?: unknown };
  return sizedSource(source, source.size, typeof total === "number" ? total : undefined);
}

/** Raises ObjectNotFound(name) unless `info` says the item exists; a helper for backends. */
export function assertExists(info: ItemInfo, name: string): void {
  if (!info.exists) throw new ObjectNotFound(name);
}

/** `pending`'s result, or ABORTED once it has settled if the signal fired meanwhile. */
async function settledThenAborted<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    const result = await pending;
    throwIfAborted(signal);
    return result;
  } catch (err) {
    throwIfAborted(signal);
    throw err;
  }
}
