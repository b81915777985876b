import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { tempName } from "@borgstore/core/backend";

/**
 * A fresh file in `folder` for a state file written whole and then renamed over its name: named
 * by the backend kit's `tempName` (so `TEMP_NAME` recognises a left-over one, as for posixfs),
 * created exclusively, another name drawn on a clash.
 */
export async function createTempFile(folder: string, mode: number): Promise<{ path: string; file: FileHandle }> {
  for (;;) {
    const path = join(folder, tempName());
    try {
      return { path, file: await open(path, "wx", mode) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}
