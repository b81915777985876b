export { PosixFsBackend, type PosixFsOptions } from "./posixfs-backend.js";
export { plugin } from "./url-plugin.js";
export { pathFromFileUrl, unquote } from "./url.js";
export { QUOTA_FILE, PERSIST_BYTES, PERSIST_SECONDS } from "./quota.js";
export type { FileCheckOptions, FileCheckReport, FileFinding } from "./file-check.js";
