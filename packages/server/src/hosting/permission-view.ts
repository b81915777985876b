import {
  Backend,
  BackendLayer,
  type ByteSource,
  type DefragOptions,
  type OperationOptions,
  PermissionDenied,
  type Permissions,
  type StorableValue,
  type StoreStreamOptions,
  asBytes,
  checkPermission,
  streamDigest,
  validateItemName,
  verifiedSource,
} from "@borgstore/core";

/**
 * One request's view of a shared repository store: the permissions of the credential that sent it
 * (roles and grants differ per login, the open store is one), and append-only that survives
 * retries: where the credential may add ("w") but not overwrite ("W"), storing the identical value
 * again succeeds without writing (a client retrying after a lost answer), a different one is
 * refused as the reference refuses an overwrite.
 */
export class PermissionView extends BackendLayer {
  protected override readonly permissions: Permissions | undefined;

  constructor(inner: Backend, permissions: Permissions | undefined) {
    super(inner);
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

  override async store(name: string, value: StorableValue, options: OperationOptions = {}): Promise<void> {
    if (this.#appendOnly(name)) {
      const bytes = asBytes(value);
      const existing = await this.#existingSize(name, options);
      if (existing !== undefined) {
        if (existing === bytes.byteLength && Buffer.from(await this.inner.load(name, options)).equals(bytes)) return;
        throw overwriteRefused(name);
      }
    }
    return super.store(name, value, options);
  }

  override async storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    if (this.#appendOnly(name)) {
      const existing = await this.#existingSize(name, options);
      if (existing !== undefined) {
        if (options.size !== undefined && existing !== options.size) throw overwriteRefused(name);
        const given = await streamDigest("sha256", verifiedSource(source, options));
        if (given === (await this.inner.hash(name, "sha256", options))) return;
        throw overwriteRefused(name);
      }
    }
    return super.storeStream(name, source, options);
  }

  /** May add `name` but not overwrite it. */
  #appendOnly(name: string): boolean {
    return !grants(this.permissions, name, "W") && grants(this.permissions, name, "w");
  }

  async #existingSize(name: string, options: OperationOptions): Promise<number | undefined> {
    validateItemName(name);
    const info = await this.inner.info(name, options);
    return info.exists ? info.size : undefined;
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
