import { asBytes, collectBytes, sizedBytes, sizedSource, verifiedSource } from "./byte-source.js";
import { BackendMustBeOpen, BackendMustNotBeOpen, InvalidArgument, ObjectNotFound, ReadRangeError } from "./errors.js";
import { checkHashAlgorithm, createHasher, streamDigest } from "./hashing.js";
import { validateName } from "./names.js";
import { nest } from "./nesting.js";
import { Required, checkPermission } from "./permissions.js";
import { validateLoadOptions } from "./range.js";
import type {
  BackendCapabilities,
  ByteSource,
  DefragOptions,
  DefragSource,
  ItemInfo,
  LoadOptions,
  Permissions,
  QuotaInfo,
  SizedByteSource,
  StoreStreamOptions,
} from "./types.js";

export interface BackendOptions {
  /** Path → letters from "lrwWD" (spec §10); absent or empty = unrestricted. Enforced by core for every backend. */
  permissions?: Permissions;
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
 * _hash (server-side hashing), _quota.
 */
export abstract class Backend {
  /** Declared by each backend; the conformance kit reads it. */
  abstract readonly capabilities: BackendCapabilities;
  /** Create every nesting directory up front (Store.create_levels); false for all shipped backends. */
  readonly precreateDirs: boolean = false;
  protected readonly permissions: Permissions | undefined;
  #opened = false;

  constructor(options: BackendOptions = {}) {
    this.permissions = options.permissions && Object.keys(options.permissions).length > 0 ? options.permissions : undefined;
  }

  get opened(): boolean {
    return this.#opened;
  }

  /** Text that identifies the storage location; servers redact it from error messages. */
  get location(): string | undefined {
    return undefined;
  }

  // ---- primitives -------------------------------------------------------------------------

  protected abstract _create(): Promise<void>;
  protected abstract _destroy(): Promise<void>;
  protected abstract _open(): Promise<void>;
  protected abstract _close(): Promise<void>;
  protected abstract _mkdir(name: string): Promise<void>;
  protected abstract _rmdir(name: string): Promise<void>;
  /** Must return exists: false (size 0) for a missing name, never throw ObjectNotFound. */
  protected abstract _info(name: string): Promise<ItemInfo>;
  /** offset may be negative (from the end); see resolveRange. */
  protected abstract _load(name: string, options: LoadOptions): Promise<Uint8Array>;
  /** Atomic: the name shows either the old value or the whole new one, never a part. */
  protected abstract _store(name: string, value: Uint8Array): Promise<void>;
  protected abstract _delete(name: string): Promise<void>;
  /** Overwrites `newName`. */
  protected abstract _move(currentName: string, newName: string): Promise<void>;
  /** Direct children of `name`, sorted by name, invalid names skipped; ObjectNotFound for a missing directory. */
  protected abstract _list(name: string): AsyncIterable<ItemInfo>;

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
  protected async _storeStream(name: string, source: ByteSource, _options: StoreStreamOptions = {}): Promise<void> {
    await this._store(name, await collectBytes(source));
  }

  /** Default: stream the object through a hasher in this process. */
  protected async _hash(name: string, algorithm: string): Promise<string> {
    return streamDigest(algorithm, await exactly(await this._loadStream(name, {})));
  }

  protected async _quota(): Promise<QuotaInfo> {
    return { limit: -1, usage: -1 };
  }

  // ---- lifecycle --------------------------------------------------------------------------

  async create(): Promise<void> {
    this.#assertClosed();
    checkPermission(this.permissions, "", Required.create);
    await this._create();
  }

  async destroy(): Promise<void> {
    this.#assertClosed();
    checkPermission(this.permissions, "", Required.destroy);
    await this._destroy();
  }

  async open(): Promise<void> {
    this.#assertClosed();
    await this._open();
    this.#opened = true;
  }

  async close(): Promise<void> {
    this.#assertOpen();
    this.#opened = false;
    await this._close();
  }

  // ---- operations -------------------------------------------------------------------------

  async mkdir(name: string): Promise<void> {
    this.#prepare(name, Required.mkdir);
    await this._mkdir(name);
  }

  async rmdir(name: string): Promise<void> {
    this.#prepare(name, Required.rmdir);
    await this._rmdir(name);
  }

  async info(name: string): Promise<ItemInfo> {
    this.#prepare(name, Required.info);
    return this._info(name);
  }

  async load(name: string, options: LoadOptions = {}): Promise<Uint8Array> {
    this.#prepare(name, Required.read);
    validateLoadOptions(options);
    return this._load(name, options);
  }

  /**
   * Like load, as a stream of chunks that announces its exact `size` up front (a Content-Length
   * for exactly these bytes, even while the name is being overwritten). ObjectNotFound is thrown
   * before the stream is returned; a stream that ends before `size` bytes throws.
   */
  async loadStream(name: string, options: LoadOptions = {}): Promise<SizedByteSource> {
    this.#prepare(name, Required.read);
    validateLoadOptions(options);
    return exactly(await this._loadStream(name, options));
  }

  async store(name: string, value: StorableValue): Promise<void> {
    this.#prepare(name);
    await this.#checkStorePermission(name);
    await this._store(name, asBytes(value));
  }

  /**
   * Stores a value arriving as a stream, without holding it whole in memory where the backend
   * streams. With `size` or `sha256`, a mismatch aborts the store and nothing becomes visible.
   */
  async storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    this.#prepare(name);
    if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0))
      throw new InvalidArgument(`size must be a non-negative integer, but got: ${options.size}`);
    await this.#checkStorePermission(name);
    const checked = options.size === undefined && options.sha256 === undefined ? source : verifiedSource(source, options);
    await this._storeStream(name, checked, options);
  }

  async delete(name: string): Promise<void> {
    this.#prepare(name, Required.delete);
    await this._delete(name);
  }

  async move(currentName: string, newName: string): Promise<void> {
    this.#prepare(currentName, Required.moveSource);
    validateName(newName);
    await this.#checkStorePermission(newName);
    await this._move(currentName, newName);
  }

  /** Direct children of `name`, sorted. State and name errors surface at the first iteration step. */
  async *list(name: string): AsyncIterable<ItemInfo> {
    this.#prepare(name, Required.list);
    yield* this._list(name);
  }

  async hash(name: string, algorithm = "sha256"): Promise<string> {
    this.#prepare(name, Required.read);
    checkHashAlgorithm(algorithm);
    return this._hash(name, algorithm);
  }

  async quota(): Promise<QuotaInfo> {
    this.#assertOpen();
    return this._quota();
  }

  /**
   * Concatenates byte ranges of existing objects into one new object (reference default
   * implementation). Source names include their namespace. Without a target, the name is the
   * digest of the result under `namespace`, nested `levels` deep. Returns the target name.
   */
  async defrag(sources: readonly DefragSource[], options: DefragOptions = {}): Promise<string> {
    this.#assertOpen();
    const { target, algorithm, namespace, levels = 0 } = options;
    if (!target && !algorithm) throw new InvalidArgument("Either target or algorithm must be given for defrag");
    if (algorithm && !target) checkHashAlgorithm(algorithm);
    const chunks: Uint8Array[] = [];
    for (const [source, offset, size] of sources) {
      const chunk = await this.load(source, { offset, size });
      if (chunk.byteLength !== size)
        throw new ReadRangeError(
          `Read range error from ${source} (requested ${size} bytes at offset ${offset}, got ${chunk.byteLength})`,
        );
      chunks.push(chunk);
    }
    const value = await collectBytes(bytesOf(chunks));
    let name = target;
    if (!name) {
      const h = await createHasher(algorithm as string);
      h.update(value);
      const key = h.hexdigest();
      const ns = namespace ? namespace.replace(/\/+$/, "") : "";
      name = nest(ns ? `${ns}/${key}` : key, levels);
    }
    await this.store(name, value);
    return name;
  }

  // ---- checks -----------------------------------------------------------------------------

  #assertOpen(): void {
    if (!this.#opened) throw new BackendMustBeOpen("backend must be open");
  }

  #assertClosed(): void {
    if (this.#opened) throw new BackendMustNotBeOpen("backend must not be open");
  }

  #prepare(name: string, required?: string): void {
    validateName(name);
    this.#assertOpen();
    if (required) checkPermission(this.permissions, name, required);
  }

  async #checkStorePermission(name: string): Promise<void> {
    if (!this.permissions) return;
    const exists = (await this._info(name)).exists;
    checkPermission(this.permissions, name, exists ? Required.overwrite : Required.storeNew);
  }
}

/** Enforces a backend's announced size on its stream (once, here, for every backend). */
async function exactly(source: ByteSource & { size?: unknown }): Promise<SizedByteSource> {
  // A backend written before sources carried their size: its bytes are the only trustworthy count.
  if (typeof source.size !== "number") return sizedBytes(await collectBytes(source));
  return sizedSource(source, source.size);
}

async function* bytesOf(chunks: Uint8Array[]): ByteSource {
  yield* chunks;
}

/** Raises ObjectNotFound(name) unless `info` says the item exists; a helper for backends. */
export function assertExists(info: ItemInfo, name: string): void {
  if (!info.exists) throw new ObjectNotFound(name);
}
