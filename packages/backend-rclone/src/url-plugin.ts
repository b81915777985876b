import { type BackendPlugin, InvalidArgument } from "@borgstore/core";
import { RcloneBackend } from "./rclone-backend.js";
import { RCLONE_SCHEME, remoteFromUrl } from "./url.js";

/** `rclone:REMOTE:PATH` URLs (docs/backend-urls.md#rclone-any-rclone-remote). rclone itself is looked for when the backend opens. */
export const plugin: BackendPlugin = {
  schemes: [RCLONE_SCHEME],
  fromUrl(url, options = {}) {
    const remote = remoteFromUrl(url);
    if (remote === undefined) return undefined;
    if (options.quota !== undefined) throw new InvalidArgument("a quota is only supported by the file: backend");
    return new RcloneBackend({ remote, permissions: options.permissions });
  },
};
