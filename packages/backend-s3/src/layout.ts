import { isValidName } from "@borgstore/core";
import { TMP_SUFFIX } from "@borgstore/core/backend";

/**
 * The object layout of the reference's s3 backend, so that a bucket written by either reads in
 * the other: item `name` is the key `basePath + name`; a directory is a key prefix ending in "/",
 * made visible on its own by an empty marker object `<dir>/.dir` (mkdir, and create for the root).
 */
export const DIR_MARKER = ".dir";
export const DELIMITER = "/";

export class KeyLayout {
  /** Always ends in "/". */
  constructor(readonly basePath: string) {}

  objectKey(name: string): string {
    return this.basePath + name;
  }

  /** Prefix under which the children of directory `name` live ("" = the store root). */
  dirPrefix(name: string): string {
    return name === "" ? this.basePath : `${this.basePath}${name}${DELIMITER}`;
  }

  markerKey(name: string): string {
    return this.dirPrefix(name) + DIR_MARKER;
  }

  /**
   * The child name of a listed key or common prefix below `prefix`, or undefined for what list
   * hides: the directory marker, in-flight `.tmp` uploads and names borgstore would not accept.
   */
  childName(prefix: string, keyOrPrefix: string): string | undefined {
    let child = keyOrPrefix.slice(prefix.length);
    if (child.endsWith(DELIMITER)) child = child.slice(0, -1);
    if (child === "" || child === DIR_MARKER || child.endsWith(TMP_SUFFIX)) return undefined;
    if (child.includes(DELIMITER) || !isValidName(child)) return undefined;
    return child;
  }
}
