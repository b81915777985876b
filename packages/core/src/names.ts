import { InvalidName } from "./errors.js";

/** Longest valid name, including namespace and nesting directories. */
export const MAX_NAME_LENGTH = 100;

/** The store root; a valid name. */
export const ROOTNS = "";

/** Suffix of a soft-deleted item. */
export const DEL_SUFFIX = ".del";
/** Suffix of an in-flight upload (never a valid name). */
export const TMP_SUFFIX = ".tmp";
/** Suffix of an internal hidden file (never a valid name). */
export const HID_SUFFIX = ".hid";

/**
 * Why `name` is invalid, or undefined when it is valid. Checks run in the reference's order
 * and keep its messages.
 */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return `name must be str, but got: ${typeof name}`;
  if (name.length > MAX_NAME_LENGTH) return `name is too long (max: ${MAX_NAME_LENGTH}): ${name}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII range check
  if (!/^[\x00-\x7f]*$/.test(name)) return `name must encode to plain ascii, but failed with: ${name}`;
  // The reference fails on NUL only later, in the OS ("embedded null byte"); no storage can hold it.
  if (name.includes("\0")) return `name must not contain NUL characters, but got: ${JSON.stringify(name)}`;
  if (name.startsWith("/") || name.endsWith("/") || name.includes(".."))
    return `name must be relative and not contain '..': ${name}`;
  if (name.includes("\\")) return `name must not contain backslashes, but got: ${name}`;
  if (name.includes(" ")) return `name must not contain blanks, but got: ${name}`;
  if (name !== name.toLowerCase()) return `name must be lowercase, but got: ${name}`;
  if (name.endsWith(TMP_SUFFIX)) return `name must not end with .tmp, but got: ${name}`;
  if (name.endsWith(HID_SUFFIX)) return `name must not end with .hid, but got: ${name}`;
  // Stricter than the reference, whose filesystem backend resolves these to the base directory
  // or below a backend's own files (uploads.hid/…): its list hides both, so no client can use them.
  // Both need a dot: the common name (a hex key below dot-free directories) skips the split.
  if (!name.includes(".")) return undefined;
  const segments = name.split("/");
  if (segments.includes(".")) return `name must not contain '.' segments, but got: ${name}`;
  if (segments.some((segment) => segment.endsWith(HID_SUFFIX)))
    return `name must not contain a .hid directory, but got: ${name}`;
  return undefined;
}

/**
 * Why `name` is no valid name for an item (a value to store, load, move or delete), or undefined
 * when it is: a valid name other than the store root.
 */
export function itemNameProblem(name: unknown): string | undefined {
  if (name === ROOTNS) return "name must not be empty (the store root is no item)";
  return nameProblem(name);
}

/** True if `name` is a valid name (see nameProblem for the rules). */
export function isValidName(name: unknown): name is string {
  return nameProblem(name) === undefined;
}

/** Throws InvalidName (code INVALID_NAME) unless `name` is a valid item name (not the store root). */
export function validateItemName(name: unknown): asserts name is string {
  const problem = itemNameProblem(name);
  if (problem !== undefined) throw new InvalidName(problem);
}

/** Throws InvalidName (code INVALID_NAME) unless `name` is valid. */
export function validateName(name: unknown): asserts name is string {
  const problem = nameProblem(name);
  if (problem !== undefined) throw new InvalidName(problem);
}
