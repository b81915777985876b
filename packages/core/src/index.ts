/**
 * `@borgstore/core`: what an application uses. The Store, the Backend contract as a caller sees it
 * (the class, its options and the values it takes and returns), errors with stable codes, name and
 * nesting rules, permissions, hashing, URL resolution with its plugin registry, and the in-memory
 * backend. What a backend implementation needs besides is in `@borgstore/core/backend`; the REST
 * protocol's wire format is in `@borgstore/core/rest-protocol`.
 * @packageDocumentation
 */
export * from "./errors.js";
export { DEL_SUFFIX, MAX_NAME_LENGTH, isValidName, validateItemName, validateName } from "./names.js";
export { MAX_NESTING_LEVELS, nest, unnest } from "./nesting.js";
export type {
  BackendCapabilities,
  BufferLoadOptions,
  ByteSource,
  DefragOptions,
  DefragSource,
  ItemInfo,
  LoadOptions,
  OperationOptions,
  Permissions,
  QuotaInfo,
  SizedByteSource,
  StoreStreamOptions,
} from "./types.js";
export { parseSize } from "./size.js";
export { fileUrlFromPath, urlFromPathOrUrl } from "./file-url.js";
export { PERMISSION_SHORTCUTS, Required, checkPermission, parsePermissions } from "./permissions.js";
export { GUARANTEED_ALGORITHMS, type Hasher, createHasher, digest, streamDigest, supportedHashAlgorithms } from "./hashing.js";
export type { HashAlgorithm, HashAlgorithms } from "./hash-algorithm.js";
export { bytesSource, collectBytes } from "./byte-source.js";
export { Backend, type BackendOptions, type StorableValue } from "./backend.js";
export type { BackendPlugin, UrlOptions } from "./plugin.js";
export { MemoryBackend, type MemoryBackendOptions } from "./backends/memory.js";
export { BUILTIN_SCHEMES, backendFromUrl, redactUrl, registerBackend, unregisterBackend, urlScheme } from "./url.js";
export { CacheMode, type NamespaceConfig, type NamespacePolicy, type StoreConfig } from "./store/config.js";
export type { StoreStatsSnapshot } from "./store/stats.js";
export type { CacheLogger } from "./layers/cache-layer.js";
export * from "./store/store.js";
