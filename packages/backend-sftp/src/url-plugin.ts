import { type BackendPlugin, InvalidArgument, type UrlOptions } from "@borgstore/core";
import { SftpBackend, type SftpBackendOptions } from "./sftp-backend.js";
import { parseSftpUrl } from "./url.js";

/** Builds an SftpBackend from `sftp://[user@]host[:port]/path` (or `//abs/path`); undefined for other URLs. */
export function sftpBackendFromUrl(url: string, options: UrlOptions & SftpBackendOptions = {}): SftpBackend | undefined {
  const location = parseSftpUrl(url);
  if (!location) return undefined;
  const { quota, ...rest } = options;
  if (quota !== undefined) throw new InvalidArgument("the sftp backend does not support a quota (only posixfs does)");
  return new SftpBackend(location, rest);
}

/** Makes `sftp:` URLs resolve to this package. */
export const plugin: BackendPlugin = {
  schemes: ["sftp"],
  fromUrl: (url, options) => sftpBackendFromUrl(url, options),
};
