import type { HashAlgorithm } from "./hash-algorithm.js";
/** What info() and list() report about one item. `atime` is seconds since the epoch (0 when unknown). */
export interface ItemInfo {
  /** The item's name: the last component of its path. */
  name: string;
  /** False for a missing item (info() reports it rather than throwing). */
  exists: boolean;
  /** Size in bytes; 0 for directories and missing items. */
  size: number;
  /** True for a directory (namespace), false for an object. */
  directory: boolean;
  /** Last access time in seconds since the epoch, 0 when the backend doesn't know it. */
  atime: number;
}

/**
 * What every Backend and Store operation accepts. An aborted `signal` rejects with ABORTED: before
 * any work when it has already fired; a store or storeStream that rejects with ABORTED made nothing
 * visible and left no temp object; a load stops its transfer and releases what it held. An
 * operation that changes something (store, delete, move, mkdir, rmdir) and has already committed
 * completes despite a late abort.
 */
export interface OperationOptions {
  /** Aborts the operation: it rejects with ABORTED (see OperationOptions). */
  signal?: AbortSignal;
}

/**
 * Which part of a value to load. A negative `offset` counts from the end (offset -4 = last 4 bytes);
 * `size` undefined means "to the end".
 */
export interface LoadOptions extends OperationOptions {
  /** First byte to load; negative counts from the end. Default 0. */
  offset?: number;
  /** Number of bytes to load; undefined loads to the end. */
  size?: number;
}

/** What a load into memory accepts beyond the range. */
export interface BufferLoadOptions extends LoadOptions {
  /**
   * A buffer the bytes may be read into, sparing an allocation per load: reuse one across loads
   * (fresh memory costs the kernel a page fault per 4 KiB it fills). When the backend reads into
   * it and the bytes fit, the result is a view of its start (`result.buffer === into.buffer`);
   * otherwise a new buffer, as without it. Leave it alone until the load has settled.
   */
  into?: Uint8Array;
}

/** Bytes arriving over time: a Node Readable, a web ReadableStream's iterator, an async generator. */
export type ByteSource = AsyncIterable<Uint8Array>;

/**
 * What loadStream returns: bytes arriving over time plus the exact number it will deliver. The
 * size is taken from the opened file or response itself (fstat of the handle, the reply's
 * Content-Length), never from a second look-up by name, so it belongs to exactly these bytes even
 * while the name is overwritten. Iterate it once. If the bytes stop before `size`, iteration
 * throws (BackendError) instead of ending quietly.
 */
export interface SizedByteSource extends AsyncIterable<Uint8Array> {
  /** Exact number of bytes the source delivers. */
  readonly size: number;
  /**
   * The length of the whole value these bytes were cut from, when the backend learned it from
   * the same read (fstat of the opened handle, the total of the reply's Content-Range); absent
   * otherwise. A server puts it in its Content-Range, so a client can tell which value a slice
   * came from.
   */
  readonly total?: number;
}

/** Options of storeStream: what the source must deliver; a mismatch stores nothing. */
export interface StoreStreamOptions extends OperationOptions {
  /** Exact number of bytes the source will deliver; a different count aborts the store (ContentLengthMismatch). */
  size?: number;
  /** Lowercase hex SHA-256 the bytes must have; a mismatch aborts the store (ContentHashMismatch). */
  sha256?: string;
}

/** One defrag source: [name, offset, size]. */
export type DefragSource = readonly [name: string, offset: number, size: number];

/** Options of defrag: either a `target` name, or an `algorithm` whose digest of the result names it. */
export interface DefragOptions extends OperationOptions {
  /** Name to store the result under; without it the digest names it. */
  target?: string;
  /** Hash algorithm whose hex digest of the result becomes its name (when no target). */
  algorithm?: HashAlgorithm;
  /** Namespace the digest-named result goes under, e.g. "data". */
  namespace?: string;
  /** Nesting levels of the digest-named result (see nest()). Default 0. */
  levels?: number;
}

/** What quota() reports: the configured limit and current usage in bytes. */
export interface QuotaInfo {
  /** Bytes allowed, or -1 without a quota. */
  limit: number;
  /** Bytes used, or -1 without a quota. */
  usage: number;
}

/**
 * What a backend can do, declared by its author; the conformance kit adapts its tests to it.
 */
export interface BackendCapabilities {
  /** info/list report real access times. */
  atime: boolean;
  /** quota() reports a limit and usage when the backend was configured with one. */
  quota: boolean;
  /** Directories exist on their own (mkdir of an empty namespace is visible in list/info). */
  directories: boolean;
  /** loadStream/storeStream move bytes without holding the whole value in memory. */
  streaming: boolean;
  /**
   * storeStream gathers a source's chunks, however small, into large writes itself, keeping each
   * chunk by reference until it is written (so the source must not reuse a chunk's memory after
   * yielding it): a server may hand it a request body's pieces as they arrive, uncopied.
   */
  gathersChunks?: boolean;
  /** Hash algorithms computed next to the data (others are streamed to the client by core). */
  serverSideHash: readonly string[];
}

/** Permission letters: l list, r read, w write new, W overwrite, D delete. */
export type Permissions = Readonly<Record<string, string>>;
