import { Backend, type LayerCalls, layerCallsOf } from "../backend.js";
import type { CheckedDefragSources } from "../defrag.js";
import type {
  BackendCapabilities,
  BufferLoadOptions,
  ByteSource,
  DefragOptions,
  ItemInfo,
  LoadOptions,
  OperationOptions,
  QuotaInfo,
  SizedByteSource,
  StoreStreamOptions,
} from "../types.js";

/**
 * A Backend wrapping another Backend (as OpenDAL composes layers): every primitive calls the
 * inner backend through `innerCalls`, which checks the inner one's open state and permissions
 * but not again the names, options and signal this layer's public method has checked (a stack
 * of layers validates once, at its top). A layer overrides the primitives whose behaviour it
 * changes; it opens, closes, creates and destroys its inner backend with itself.
 */
export class BackendLayer extends Backend {
  /** The backend this layer wraps. */
  readonly inner: Backend;
  /** The inner backend's operations for names and options this layer's public methods have validated (see LayerCalls). */
  protected readonly innerCalls: LayerCalls;
  override readonly precreateDirs: boolean;

  constructor(inner: Backend) {
    super();
    this.inner = inner;
    this.innerCalls = layerCallsOf(inner);
    this.precreateDirs = inner.precreateDirs;
  }

  /**
   * The inner backend's capabilities: a layer changes how, not what. Except gathersChunks: the
   * inner backend's storeStream checks the size and SHA-256 of what a layer hands on once more, so
   * a server holds a body whole for it (checked once) rather than streaming it chunk by chunk.
   */
  get capabilities(): BackendCapabilities {
    const inner = this.inner.capabilities;
    return inner.gathersChunks ? { ...inner, gathersChunks: false } : inner;
  }

  /** A layer holds no state of its own: it is open while the backend it wraps is (opened through it or not). */
  override get opened(): boolean {
    return this.inner.opened;
  }

  /** The inner backend's location. */
  override get location(): string | undefined {
    return this.inner.location;
  }

  // The inner backend's own permissions decide; this layer has none of its own.
  /** Asks the inner backend (see Backend.checkStorePermission). */
  override checkStorePermission(name: string, options: OperationOptions = {}): Promise<void> {
    return this.inner.checkStorePermission(name, options);
  }

  /** Asks the inner backend (see Backend.checkLifecyclePermission). */
  override checkLifecyclePermission(operation: "create" | "destroy"): void {
    this.inner.checkLifecyclePermission(operation);
  }

  /** Asks the inner backend (see Backend.checkDefragTarget). */
  override checkDefragTarget(options: DefragOptions): void {
    this.inner.checkDefragTarget(options);
  }

  protected _create(): Promise<void> {
    return this.inner.create();
  }

  protected _destroy(): Promise<void> {
    return this.inner.destroy();
  }

  protected _open(): Promise<void> {
    return this.inner.open();
  }

  protected _close(): Promise<void> {
    return this.inner.close();
  }

  protected _mkdir(name: string, options?: OperationOptions): Promise<void> {
    return this.innerCalls.mkdir(name, options);
  }

  protected _rmdir(name: string, options?: OperationOptions): Promise<void> {
    return this.innerCalls.rmdir(name, options);
  }

  protected _info(name: string, options?: OperationOptions): Promise<ItemInfo> {
    return this.innerCalls.info(name, options);
  }

  protected _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    return this.innerCalls.load(name, options);
  }

  protected override _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    return this.innerCalls.loadStream(name, options);
  }

  protected _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    return this.innerCalls.store(name, value, options);
  }

  protected override _storeStream(name: string, source: ByteSource, options?: StoreStreamOptions): Promise<void> {
    return this.innerCalls.storeStream(name, source, options);
  }

  protected _delete(name: string, options?: OperationOptions): Promise<void> {
    return this.innerCalls.delete(name, options);
  }

  protected _move(currentName: string, newName: string, options?: OperationOptions): Promise<void> {
    return this.innerCalls.move(currentName, newName, options);
  }

  protected _list(name: string, options?: OperationOptions): AsyncIterable<ItemInfo> {
    return this.innerCalls.list(name, options);
  }

  protected override _hash(name: string, algorithm: string, options?: OperationOptions): Promise<string> {
    return this.innerCalls.hash(name, algorithm, options);
  }

  /**
   * Defrag where the inner backend does it (a server's own defrag). Sources that failed their
   * checks take the base class's path, which reads the readable ones through this layer and then
   * raises the first bad one's error, as every backend does.
   */
  protected override _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    if (sources.problem !== undefined) return super._defrag(sources, options);
    return this.inner.defrag(sources.readable, options);
  }

  protected override _quota(options?: OperationOptions): Promise<QuotaInfo> {
    return this.innerCalls.quota(options);
  }
}
