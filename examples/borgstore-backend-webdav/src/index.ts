import { registerBackend } from "@borgstore/core";
import { plugin } from "./url-plugin.js";

export { WebdavBackend, type WebdavBackendOptions } from "./webdav-backend.js";
export { locationFromUrl, WEBDAV_SCHEMES, type WebdavLocation } from "./url.js";
export { plugin };

// A community package is not in core's table of built-in schemes: importing it registers its own.
registerBackend(plugin);
