export { RcloneBackend, MIN_RCLONE_VERSION, isSupportedRcloneVersion, type RcloneBackendOptions } from "./rclone-backend.js";
export { plugin } from "./url-plugin.js";
export { remoteFromUrl, normalizeRemote } from "./url.js";
export { isTransient } from "./rc-client.js";
