/**
 * `@borgstore/core/backend`: what a backend implementation shares with every other one, written
 * once. Reconnect and retry with the idempotency rule of delete and move, the connection-lost
 * test, byte-range planning for loads, temp names, a per-key queue and item path helpers, and
 * the sized and abortable sources a `_loadStream` or `_storeStream` hands on, and the size and
 * SHA-256 check of a value received whole (`receiveWhole`, as a server takes an upload).
 * Applications never need it; `@borgstore/core` is their entry.
 * @packageDocumentation
 */
export { CONNECTION_LOST_CODES, isConnectionLost } from "./connection-lost.js";
export { type RetryOptions, type RetryPolicy, withRetry } from "./retry.js";
export {
  type ContentRange,
  type RangeRequest,
  TAIL_SLACK,
  contentRangeTotal,
  firstBytes,
  formatRange,
  parseContentRange,
  planRangeRequest,
} from "./range-request.js";
export { TEMP_NAME, randomSuffix, tempName } from "./temp-names.js";
export { KeyedQueue } from "./keyed-queue.js";
export { basename, dirname, joinName, nameAndParents } from "./item-paths.js";
export { receiveWhole, sizedBytes, sizedSource, tappedSource } from "../byte-source.js";
export { isWholeValue } from "../range.js";
export { abortableSource } from "../abort.js";
export { type ResponseBodyOptions, readResponseBody } from "./response-body.js";
