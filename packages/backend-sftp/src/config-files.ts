import { readFileSync } from "node:fs";

/** The files among `files` that can be read, with their text: as ssh does, a missing one is skipped. */
export function readExistingFiles(files: readonly string[]): { file: string; text: string }[] {
  const found: { file: string; text: string }[] = [];
  for (const file of files) {
    try {
      found.push({ file, text: readFileSync(file, "utf8") });
    } catch {
      // absent or unreadable: contributes nothing
    }
  }
  return found;
}
