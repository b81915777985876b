import { type BackendPlugin, InvalidArgument, type UrlOptions } from "@borgstore/core";
import { RestBackend } from "./rest-backend.js";
import { parseRestUrl } from "./url.js";

/** URL resolution for http://, https:// and rest:// (see parseRestUrl for the forms). */
export const plugin: BackendPlugin = {
  schemes: ["http", "https", "rest"],
  fromUrl(url: string, options: UrlOptions = {}) {
    if (!parseRestUrl(url)) return undefined;
    if (options.quota !== undefined)
      throw new InvalidArgument("The REST backend does not take a quota: configure it on the server (--quota).");
    return new RestBackend({ url, permissions: options.permissions });
  },
};
