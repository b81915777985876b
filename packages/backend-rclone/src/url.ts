import { BackendURLInvalid } from "@borgstore/core";

export const RCLONE_SCHEME = "rclone";

/**
 * The rclone remote spec of an `rclone:` URL, passed to rclone verbatim (docs/backend-urls.md#rclone-any-rclone-remote): not
 * percent-decoded, with `/` appended unless it already ends with `:` or `/`, so that names join
 * onto it as paths inside the remote. Undefined for URLs of another scheme.
 */
export function remoteFromUrl(url: string): string | undefined {
  if (!url.startsWith(`${RCLONE_SCHEME}:`)) return undefined;
  const remote = url.slice(RCLONE_SCHEME.length + 1);
  if (remote === "") throw new BackendURLInvalid(`rclone URL needs a remote, e.g. rclone:remote:path, but got: ${url}`);
  return normalizeRemote(remote);
}

/** Appends `/` unless the remote spec ends with `:` (remote root) or `/` already. */
export function normalizeRemote(remote: string): string {
  return remote.endsWith(":") || remote.endsWith("/") ? remote : `${remote}/`;
}
