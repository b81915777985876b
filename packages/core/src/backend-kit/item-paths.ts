/** The last part of a slash-separated item name ("data/00/0001" → "0001"; "x" → "x"). */
export function basename(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

/** The directory part of a slash-separated item name ("data/00/0001" → "data/00"; "x" → ""). */
export function dirname(name: string): string {
  const at = name.lastIndexOf("/");
  return at < 0 ? "" : name.slice(0, at);
}

/** `name` inside directory `dir` ("" is the root): the inverse of {@link dirname} and {@link basename}. */
export function joinName(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/** `name`, then each directory above it, up to the root "" ("data/00/0001" → "data/00/0001", "data/00", "data", ""). */
export function* nameAndParents(name: string): Generator<string, void, undefined> {
  for (let path = name; ; path = dirname(path)) {
    yield path;
    if (path === "") return;
  }
}
