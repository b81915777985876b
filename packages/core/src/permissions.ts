import { nameAndParents } from "./backend-kit/item-paths.js";
import { InvalidArgument, PermissionDenied } from "./errors.js";
import type { Permissions } from "./types.js";

/** Letters any one of which allows an operation (docs/rest-protocol.md#permissions). */
export const Required = {
  /** To create the store. */
  create: "wW",
  /** To destroy the store. */
  destroy: "D",
  /** To make a directory. */
  mkdir: "w",
  /** To remove a directory. */
  rmdir: "wD",
  /** To list a directory. */
  list: "l",
  /** To get an item's info. */
  info: "lr",
  /** To load or hash an object. */
  read: "r",
  /** To store a new object. */
  storeNew: "wW",
  /** To overwrite an existing object. */
  overwrite: "W",
  /** To delete an object. */
  delete: "D",
  /** To move an object away (the source of a move). */
  moveSource: "D",
} as const;

const LETTERS = /^[lrwWD]*$/;

/** The reference's server shortcuts (--permissions NAME). */
export const PERMISSION_SHORTCUTS: Readonly<Record<string, Permissions | undefined>> = {
  "borgbackup-all": undefined,
  "borgbackup-no-delete": {
    "": "lr",
    archives: "lrw",
    cache: "lrwWD",
    config: "lrW",
    data: "lrw",
    keys: "lr",
    locks: "lrwD",
  },
  "borgbackup-write-only": {
    "": "l",
    archives: "lw",
    cache: "lrwWD",
    config: "lrW",
    data: "lw",
    keys: "lr",
    locks: "lrwD",
  },
  "borgbackup-read-only": { "": "lr", locks: "lrwD" },
};

/** Parses a shortcut name or a JSON object string into a permissions mapping (undefined = unrestricted). */
export function parsePermissions(text: string): Permissions | undefined {
  if (Object.hasOwn(PERMISSION_SHORTCUTS, text)) return PERMISSION_SHORTCUTS[text];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new InvalidArgument(
      `Invalid permissions: ${text} (use one of ${Object.keys(PERMISSION_SHORTCUTS).join(", ")} or a JSON object)`,
      { cause },
    );
  }
  return checkPermissions(parsed);
}

/** Validates a permissions mapping: an object of path → letters from "lrwWD". */
export function checkPermissions(value: unknown): Permissions | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new InvalidArgument("permissions must be an object mapping paths to letters from lrwWD");
  for (const [path, letters] of Object.entries(value)) {
    if (typeof letters !== "string" || !LETTERS.test(letters))
      throw new InvalidArgument(`permissions for '${path}' must be letters from lrwWD, but got: ${String(letters)}`);
  }
  return Object.keys(value).length === 0 ? undefined : (value as Permissions);
}

/**
 * The most specific entry decides: the full name, then each parent, down to "". No entry → denied.
 * Throws PermissionDenied with the reference's text.
 */
export function checkPermission(permissions: Permissions | undefined, name: string, required: string): void {
  if (!permits(permissions, name, required)) throw new PermissionDenied(`One of permissions '${required}' required for '${name}'`);
}

/** Whether `permissions` grant one of the letters `required` for `name` (checkPermission without the throw). */
export function permits(permissions: Permissions | undefined, name: string, required: string): boolean {
  if (!permissions || Object.keys(permissions).length === 0) return true;
  for (const path of nameAndParents(name)) {
    if (!Object.hasOwn(permissions, path)) continue;
    const granted = permissions[path] ?? "";
    return [...required].some((letter) => granted.includes(letter));
  }
  return false;
}

/**
 * Whether some name below `prefix` ("" = anywhere) might be granted one of `required`: the entry
 * deciding for `prefix` itself, or any more specific one below it. Lets a caller refuse at once
 * an operation whose exact name is not known yet (a digest-named defrag target).
 */
export function mayBeGrantedBelow(permissions: Permissions | undefined, prefix: string, required: string): boolean {
  if (permits(permissions, prefix, required)) return true;
  const grants = (letters: string | undefined) => [...required].some((letter) => (letters ?? "").includes(letter));
  const below = prefix === "" ? "" : `${prefix}/`;
  return Object.entries(permissions ?? {}).some(([path, letters]) => path !== prefix && path.startsWith(below) && grants(letters));
}
