import type { BackendPlugin, UrlOptions } from "@borgstore/core";
import { PosixFsBackend } from "./posixfs-backend.js";
import { pathFromFileUrl } from "./url.js";

/** `file:///abs/path` → PosixFsBackend, with the server's permissions and quota options. */
export const plugin: BackendPlugin = {
  schemes: ["file"],
  fromUrl(url: string, options: UrlOptions = {}) {
    const path = pathFromFileUrl(url);
    if (path === undefined) return undefined;
    return new PosixFsBackend({ path, permissions: options.permissions, quota: options.quota });
  },
};
