/**
 * The borgstore REST protocol, shared by `@borgstore/server` and `@borgstore/backend-rest`: media
 * type and header names, the error ↔ status tables, Python-style JSON bodies and Range headers.
 * The rules themselves are described in docs/rest-protocol.md.
 *
 * @module
 */
export { MEDIA_TYPE, HEADERS, CAUTIOUS, formatServerFeatures, parseServerFeatures, type ServerFeatures } from "./headers.js";
export {
  STATUS_OF_CODE,
  HASH_MISMATCH_TEXT,
  HttpStatusError,
  statusOfCode,
  wireMessage,
  errorPageMessage,
  errorOfStatus,
  type RequestSubject,
} from "./errors.js";
export {
  pythonJsonString,
  pythonFloat,
  encodeList,
  decodeList,
  encodeQuota,
  decodeQuota,
  encodeDefragSources,
  decodeDefragSources,
} from "./python-json.js";
export { formatRange, parseRange, formatContentRange, contentRangeTotal } from "./range.js";
