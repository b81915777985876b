export { PosixFsBackend, type PosixFsOptions } from "./posixfs-backend.js";
export { plugin, pathFromFileUrl, unquote } from "./url-plugin.js";
export { QUOTA_FILE, PERSIST_BYTES, PERSIST_SECONDS } from "./quota.js";
export type { FileCheckOptions, FileCheckReport, FileFinding } from "./file-check.js";
