/**
 * The name of the file `name` is: valid names may double a slash ("data//x" is "data/x", as in the
 * reference), and both spellings must take the same turn and count as one item.
 */
export function sameFile(name: string): string {
  return name.includes("//") ? name.replace(/\/{2,}/g, "/") : name;
}
