/**
 * `@borgstore/core/backend`: what a backend implementation needs besides the contract in
 * `@borgstore/core` (the `Backend` class it extends, the errors it throws, the types its primitives
 * take), written once for every backend. Reconnect and retry with the idempotency rule of delete and
 * move, the connection-lost test, range arithmetic and byte-range planning for loads, temp names, a
 * per-key queue and item path helpers; the sized, checked and abortable sources a `_loadStream` or
 * `_storeStream` hands on and the abort helpers around its awaits; the size and SHA-256 check of a
 * value received whole (`receiveWhole`, as a server takes an upload); and the layers, Backends
 * wrapping a Backend (`BackendLayer` and the cache, counting and emulation layers the Store stacks),
 * with `LayerCalls` and the default defrag a layer may run on itself. Applications never need it.
 * @packageDocumentation
 */
export { CONNECTION_LOST_CODES, isConnectionLost } from "./connection-lost.js";
export { type RetryOptions, type RetryPolicy, withRetry } from "./retry.js";
export {
  type ContentRange,
  type RangeRequest,
  TAIL_SLACK,
  bytesBetween,
  checkRangeAnswer,
  contentRangeTotal,
  firstBytes,
  formatRange,
  parseContentRange,
  planRangeRequest,
  rangeAnswerMismatch,
} from "./range-request.js";
export { TEMP_NAME, randomSuffix, tempName } from "./temp-names.js";
export { TMP_SUFFIX } from "../names.js";
export { KeyedQueue } from "./keyed-queue.js";
export { basename, dirname, joinName, nameAndParents } from "./item-paths.js";
export { asBytes, observedSource, receiveWhole, sizedBytes, sizedSource, tappedSource, verifiedSource } from "../byte-source.js";
export { type ByteRange, isWholeValue, resolveRange, validateLoadOptions } from "../range.js";
export { abortable, abortableSource, discardSource, raceAbort, throwIfAborted, underSignal } from "../abort.js";
export { type ResponseBodyOptions, readResponseBody } from "./response-body.js";
export { type LayerCalls, layerCallsOf } from "../backend.js";
export { type CheckedDefragSources, defaultDefrag } from "../defrag.js";
export { BackendLayer } from "../layers/backend-layer.js";
export { CacheLayer, type CacheLayerOptions, type CacheLayerStats, type CachePolicy } from "../layers/cache-layer.js";
export {
  COUNTED_OPERATIONS,
  type BackendCounts,
  type CountedOperation,
  CountingLayer,
  type CountingLayerOptions,
  type OperationCount,
} from "../layers/counting-layer.js";
export { Emulation, EmulationLayer, type EmulationOptions } from "../layers/emulation-layer.js";
