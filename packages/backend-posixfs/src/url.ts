/** `file:` URLs as the reference reads them. */
const POSIX_FILE_URL = /^file:\/\/(\/.*)$/s;
const WINDOWS_FILE_URL = /^file:\/\/\/([a-zA-Z]:\/.*)$/s;

/**
 * Percent-decoding as Python's urllib.parse.unquote does it: %XX runs are UTF-8 (invalid
 * sequences become U+FFFD), a malformed escape stays as it is.
 */
export function unquote(text: string): string {
  const decoder = new TextDecoder("utf-8");
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(3 * i + 1, 3 * i + 3), 16);
    return decoder.decode(bytes);
  });
}

/** The local absolute path a `file:` URL names, or undefined for other forms (relative, remote host). */
export function pathFromFileUrl(url: string, platform: string = process.platform): string | undefined {
  if (platform === "win32") {
    const windows = WINDOWS_FILE_URL.exec(url);
    if (windows) return unquote(windows[1] as string);
  }
  const posix = POSIX_FILE_URL.exec(url);
  return posix ? unquote(posix[1] as string) : undefined;
}
