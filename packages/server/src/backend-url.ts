import { type Backend, type UrlOptions, backendFromUrl, fileUrlFromPath } from "@borgstore/core";

export { fileUrlFromPath };

/**
 * The server's --backend value → a Backend. Besides every URL core resolves, it accepts the
 * reference's `FILE:<path>` (docs/backend-urls.md#the-servers-file-paths): relative to the working directory, `~` and `~user`
 * expanded, symlinks resolved, then a percent-encoded file:// URL.
 */
export async function backendFromServerUrl(url: string, options: UrlOptions = {}): Promise<Backend> {
  const resolved = url.startsWith("FILE:") ? fileUrlFromPath(url.slice("FILE:".length)) : url;
  return backendFromUrl(resolved, options);
}

