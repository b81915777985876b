import { throwIfAborted } from "../abort.js";
import { observedSource, tappedSource } from "../byte-source.js";
import type { BufferLoadOptions, ByteSource, ItemInfo, LoadOptions, OperationOptions, SizedByteSource, StoreStreamOptions } from "../types.js";
import type { Backend } from "../backend.js";
import { BackendLayer } from "./backend-layer.js";

/** The operations a CountingLayer counts (loadStream counts as load, storeStream as store). */
export const COUNTED_OPERATIONS = ["info", "load", "store", "delete", "move", "list", "hash"] as const;
/** The operations whose effect stands once the backend below completed them. */
const WRITES: ReadonlySet<CountedOperation> = new Set(["store", "delete", "move"]);

/** An operation a CountingLayer counts. */
export type CountedOperation = (typeof COUNTED_OPERATIONS)[number];

/** How often one operation reached the inner backend, and how long the successful calls took. */
export interface OperationCount {
  /** Calls that succeeded. */
  succeeded: number;
  /** Calls that threw. */
  failed: number;
  /** Seconds spent in the calls that succeeded, summed (overlapping calls each count their own). */
  seconds: number;
}

/** Options of a CountingLayer. */
export interface CountingLayerOptions {
  /**
   * Count lists (default true). A Store times its lists itself, across nesting levels, so its
   * layers pass them through: wrapping each item of a listing cost a Store's list of small items
   * about 10% of its CPU (two clock reads and two promise turns per item).
   */
  countLists?: boolean;
}

/** What a CountingLayer has counted; every update is one synchronous step, so overlapping calls stay exact. */
export interface BackendCounts {
  /** Calls per operation. */
  readonly operations: Readonly<Record<CountedOperation, OperationCount>>;
  /** Bytes delivered by loads and loadStreams (a stream's as its chunks pass). */
  readonly loadVolume: number;
  /** Bytes of the stores and storeStreams that succeeded. */
  readonly storeVolume: number;
}

/**
 * Counts the calls, their time and the bytes moved through the backend it wraps. A list counts
 * when it ends or its caller stops it (its time is what the caller waited for items); a
 * loadStream counts when the stream is handed out, its bytes as they pass. Lifecycle, mkdir,
 * rmdir and quota are not counted.
 */
export class CountingLayer extends BackendLayer {
  readonly #operations = Object.fromEntries(
    COUNTED_OPERATIONS.map((op) => [op, { succeeded: 0, failed: 0, seconds: 0 }]),
  ) as Record<CountedOperation, OperationCount>;
  #loadVolume = 0;
  #storeVolume = 0;
  readonly #countLists: boolean;

  /** `countLists: false` hands lists through uncounted (their `list` figures stay 0). */
  constructor(inner: Backend, options: CountingLayerOptions = {}) {
    super(inner);
    this.#countLists = options.countLists ?? true;
  }

  /** What was counted so far (live figures, read them as they are now). */
  get counts(): BackendCounts {
    const self = this;
    return {
      operations: this.#operations,
      get loadVolume() {
        return self.#loadVolume;
      },
      get storeVolume() {
        return self.#storeVolume;
      },
    };
  }

  /**
   * Counts `pending`, a call into the inner backend that started at `start` (performance.now()).
   * The inner calls are LayerCalls: this layer's public method has validated the name and
   * options and watches the signal, so they are not checked twice on the way down. A read whose
   * signal fired meanwhile counts as failed, as its caller was answered ABORTED, whatever the
   * backend below did after. A write that completed stands (counted, and answered as done): its
   * value is visible, and ABORTED would tell the caller that nothing was written.
   */
  async #counted<T>(operation: CountedOperation, start: number, pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const count = this.#operations[operation];
    let result: T;
    try {
      result = await pending;
      if (!WRITES.has(operation)) throwIfAborted(signal);
    } catch (err) {
      count.failed += 1;
      throw err;
    }
    count.succeeded += 1;
    count.seconds += (performance.now() - start) / 1000;
    return result;
  }

  protected override _info(name: string, options?: OperationOptions): Promise<ItemInfo> {
    return this.#counted("info", performance.now(), this.innerCalls.info(name, options), options?.signal);
  }

  protected override async _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    const data = await this.#counted("load", performance.now(), this.innerCalls.load(name, options), options.signal);
    this.#loadVolume += data.byteLength;
    return data;
  }

  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    // The public loadStream, which sizes the source of a backend written before sources carried
    // their size (observedSource needs it); a stream's validation is nothing beside its bytes.
    const source = await this.#counted("load", performance.now(), this.inner.loadStream(name, options), options.signal);
    return observedSource(source, (chunk) => {
      this.#loadVolume += chunk.byteLength;
    });
  }

  protected override async _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    await this.#counted("store", performance.now(), this.innerCalls.store(name, value, options), options?.signal);
    this.#storeVolume += value.byteLength;
  }

  protected override async _storeStream(name: string, source: ByteSource, options?: StoreStreamOptions): Promise<void> {
    let volume = 0;
    const tapped = tappedSource(source, (chunk) => {
      volume += chunk.byteLength;
    });
    await this.#counted("store", performance.now(), this.innerCalls.storeStream(name, tapped, options), options?.signal);
    this.#storeVolume += volume;
  }

  protected override _delete(name: string, options?: OperationOptions): Promise<void> {
    return this.#counted("delete", performance.now(), this.innerCalls.delete(name, options), options?.signal);
  }

  protected override _move(currentName: string, newName: string, options?: OperationOptions): Promise<void> {
    return this.#counted("move", performance.now(), this.innerCalls.move(currentName, newName, options), options?.signal);
  }

  protected override _hash(name: string, algorithm: string, options?: OperationOptions): Promise<string> {
    return this.#counted("hash", performance.now(), super._hash(name, algorithm, options), options?.signal);
  }

  protected override _list(name: string, options?: OperationOptions): AsyncIterable<ItemInfo> {
    return this.#countLists ? this.#countedList(name, options) : this.innerCalls.list(name, options);
  }

  async *#countedList(name: string, options?: OperationOptions): AsyncIterable<ItemInfo> {
    const count = this.#operations.list;
    const items = this.innerCalls.list(name, options)[Symbol.asyncIterator]();
    let seconds = 0;
    let failed = false;
    try {
      for (;;) {
        const start = performance.now();
        let step: IteratorResult<ItemInfo>;
        try {
          step = await items.next();
        } catch (err) {
          failed = true;
          throw err;
        } finally {
          seconds += (performance.now() - start) / 1000;
        }
        if (step.done) return;
        yield step.value;
      }
    } finally {
      // Stopped by its signal (the caller was answered ABORTED): failed, even if the step below ended well.
      if (failed || options?.signal?.aborted) count.failed += 1;
      else {
        count.succeeded += 1;
        count.seconds += seconds;
      }
      await items.return?.();
    }
  }
}
