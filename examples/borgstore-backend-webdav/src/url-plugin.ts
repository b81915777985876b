import { type BackendPlugin, InvalidArgument } from "@borgstore/core";
import { WEBDAV_SCHEMES, locationFromUrl } from "./url.js";
import { WebdavBackend } from "./webdav-backend.js";

/** Answers `webdav://` and `webdavs://` URLs (see url.ts). */
export const plugin: BackendPlugin = {
  schemes: WEBDAV_SCHEMES,
  fromUrl(url, options = {}) {
    const location = locationFromUrl(url);
    if (location === undefined) return undefined;
    if (options.quota !== undefined) throw new InvalidArgument("a quota is not supported by the WebDAV backend");
    return new WebdavBackend({ ...location, permissions: options.permissions });
  },
};
