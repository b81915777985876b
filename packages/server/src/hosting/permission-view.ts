import {
  Backend,
  BackendMustBeOpen,
  type ByteSource,
  type DefragOptions,
  InvalidArgument,
  type OperationOptions,
  PermissionDenied,
  type Permissions,
  type StorableValue,
  type StoreStreamOptions,
  checkPermission,
  streamDigest,
  validateItemName,
} from "@borgstore/core";
import {
  BackendLayer,
  defaultDefrag,
  type CheckedDefragSources,
  abortableSource,
  asBytes,
  verifiedSource,
  tappedSource,
  underSignal,
} from "@borgstore/core/backend";
import type { UsageLayer } from "./usage-layer.js";

/**
 * One request's view of a shared repository store: the permissions of the credential that sent it
 * (roles and grants differ per login, the open store is one), and append-only that survives
 * retries: where the credential may add ("w") but not overwrite ("W"), storing the identical value
 * again succeeds without writing (a client retrying after a lost answer), a different one is
 * refused as the reference refuses an overwrite. The look and the write happen in the name's turn
 * (UsageLayer.addOnly): two different values racing for a new name cannot both be stored.
 */
export class PermissionView extends BackendLayer {
  protected override readonly permissions: Permissions | undefined;
  declare readonly inner: UsageLayer;
  /** Told of each overwrite, made or refused by append-only (the audit log's "overwrite"). */
  readonly #onOverwrite: () => void;

  constructor(inner: UsageLayer, permissions: Permissions | undefined, onOverwrite: () => void = () => {}) {
    super(inner);
    this.#onOverwrite = onOverwrite;
    this.permissions = permissions && Object.keys(permissions).length > 0 ? permissions : undefined;
  }

  // BackendLayer asks its inner backend; a view decides with its own permissions, as any Backend.
  override checkStorePermission(name: string, options: OperationOptions = {}): Promise<void> {
    if (this.#appendOnly(name)) {
      // Existing or not, the store itself decides (identical retry or refusal) once it has the value.
      validateItemName(name);
      return Promise.resolve();
    }
    return Backend.prototype.checkStorePermission.call(this, name, options);
  }

  override checkLifecyclePermission(operation: "create" | "destroy"): void {
    Backend.prototype.checkLifecyclePermission.call(this, operation);
  }

  override checkDefragTarget(options: DefragOptions): void {
    Backend.prototype.checkDefragTarget.call(this, options);
  }

  // A store this view may overwrite with goes straight to Backend.store (no async frame of its own).
  override store(name: string, value: StorableValue, options: OperationOptions = {}): Promise<void> {
    return this.#appendOnly(name) ? this.#addOnly(name, value, options) : super.store(name, value, options);
  }

  override storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    return this.#appendOnly(name) ? this.#addOnlyStream(name, source, options) : super.storeStream(name, source, options);
  }

  async #addOnly(name: string, value: StorableValue, options: OperationOptions): Promise<void> {
    this.#prepare(name);
    const bytes = asBytes(value);
    const outcome = await underSignal(options.signal, () =>
      this.inner.addOnly(
        name,
        // The inner backend's own call: it checks its permissions and the signal (the name was checked here).
        (inner) => inner.store(name, bytes, options),
        () => bytes.byteLength,
        async (size) => size === bytes.byteLength && Buffer.from(await this.inner.inner.load(name, options)).equals(bytes),
      ),
    );
    if (outcome === "different") throw this.#refused(name);
  }

  async #addOnlyStream(name: string, source: ByteSource, options: StoreStreamOptions): Promise<void> {
    this.#prepare(name);
    if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0))
      throw new InvalidArgument(`size must be a non-negative integer, but got: ${options.size}`);
    let received = 0;
    const checked = async function* (): ByteSource {
      for await (const chunk of verifiedSource(source, options)) {
        received += chunk.byteLength;
        yield chunk;
      }
    };
    const outcome = await underSignal(options.signal, () =>
      this.inner.addOnly(
      name,
      // `checked` verifies the size and SHA-256 once: the inner backend's own call gets it as its
      // public storeStream would hand it on (stopped by the signal), not verified a second time.
      (inner) => inner.storeStream(name, abortableSource(checked(), options.signal), options),
      () => received,
      async (size) => {
        if (options.size !== undefined && size !== options.size) return false;
        const given = await streamDigest("sha256", checked());
        return given === (await this.inner.inner.hash(name, "sha256", options));
      },
      ),
    );
    if (outcome === "different") throw this.#refused(name);
  }

  // Stores this view may overwrite with: through the usage layer's turn, which tells whether one replaced a value.
  protected override _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    return this.inner.replace(name, (inner) => inner.store(name, value, options), value.byteLength, this.#onOverwrite);
  }

  protected override _storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    let received = 0;
    const tapped = tappedSource(source, (chunk) => {
      received += chunk.byteLength;
    });
    return this.inner.replace(name, (inner) => inner.storeStream(name, tapped, options), () => received, this.#onOverwrite);
  }

  // A move onto a name this view may add but not overwrite: that it holds nothing is checked
  // again in the name's turn (an upload of it may have been in flight when move() looked).
  protected override _move(currentName: string, newName: string, options?: OperationOptions): Promise<void> {
    if (!this.#appendOnly(newName)) return super._move(currentName, newName, options);
    return this.inner.moveOntoNew(currentName, newName, options, () => this.#refused(newName));
  }

  /**
   * Core's defrag with this view as the store: its result is stored through this view's store, so
   * a login without "W" cannot overwrite an object by naming it as the target (append-only holds),
   * and its size is reserved against the quota before the sources are read.
   */
  protected override _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    return this.inner.withReserved(sources.size, () => defaultDefrag(this, sources, options));
  }

  /** May add `name` but not overwrite it. */
  #appendOnly(name: string): boolean {
    // Unrestricted (an owner): "W" everywhere, no name is append-only.
    if (!this.permissions) return false;
    return !grants(this.permissions, name, "W") && grants(this.permissions, name, "w");
  }

  #refused(name: string): PermissionDenied {
    this.#onOverwrite();
    return overwriteRefused(name);
  }

  #prepare(name: string): void {
    validateItemName(name);
    if (!this.opened) throw new BackendMustBeOpen("backend must be open");
  }
}

function grants(permissions: Permissions | undefined, name: string, letter: string): boolean {
  try {
    checkPermission(permissions, name, letter);
    return true;
  } catch {
    return false;
  }
}

/** The reference's refusal of an overwrite without "W". */
function overwriteRefused(name: string): PermissionDenied {
  return new PermissionDenied(`One of permissions 'W' required for '${name}'`);
}
