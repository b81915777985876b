import { Backend, type BackendOptions } from "../backend.js";
import { basename } from "../backend-kit/item-paths.js";
import {
  BackendAlreadyExists,
  BackendDoesNotExist,
  BackendError,
  BackendURLInvalid,
  InvalidArgument,
  ObjectNotFound,
} from "../errors.js";
import { isValidName } from "../names.js";
import type { BackendPlugin, UrlOptions } from "../plugin.js";
import { resolveRange } from "../range.js";
import type { BackendCapabilities, ItemInfo, LoadOptions } from "../types.js";

interface FileNode {
  kind: "file";
  data: Uint8Array;
  /** Seconds since the epoch (fractional), updated on store and load like a filesystem with atime. */
  atime: number;
}

interface DirNode {
  kind: "dir";
  children: Map<string, Node>;
  atime: number;
}

type Node = FileNode | DirNode;

/** The contents of one in-memory store; shared by every backend opened on the same `memory://NAME`. */
export interface MemoryVolume {
  /** @internal The store's root directory; undefined until it is created. */
  root: DirNode | undefined;
}

const namedVolumes = new Map<string, MemoryVolume>();

function systemClock(): number {
  return Date.now() / 1000;
}

function segments(name: string): string[] {
  return name === "" ? [] : name.split("/");
}

/** Options of `new MemoryBackend(...)`. */
export interface MemoryBackendOptions extends BackendOptions {
  /** Process-wide store name: every backend with the same name sees the same data, across close/open. */
  name?: string;
  /** Seconds since the epoch for atimes; default the system clock (tests of cache expiry pass their own). */
  clock?: () => number;
}

/**
 * A Backend keeping everything in this process's memory, with directories emulated so it behaves
 * like posixfs (create/destroy/mkdir/rmdir/list semantics). For tests, caches and benchmarks.
 */
export class MemoryBackend extends Backend {
  readonly capabilities: BackendCapabilities = {
    atime: true,
    quota: false,
    directories: true,
    streaming: false,
    serverSideHash: [],
  };
  /** The process-wide store name, undefined for a private store. */
  readonly name: string | undefined;
  readonly #volume: MemoryVolume;
  readonly #clock: () => number;

  constructor(options: MemoryBackendOptions = {}) {
    super(options);
    this.name = options.name;
    this.#clock = options.clock ?? systemClock;
    if (options.name === undefined) {
      this.#volume = { root: undefined };
    } else {
      let volume = namedVolumes.get(options.name);
      if (!volume) namedVolumes.set(options.name, (volume = { root: undefined }));
      this.#volume = volume;
    }
  }

  override get location(): string {
    return this.name === undefined ? "memory:" : `memory://${this.name}`;
  }

  /** Forgets a named store (tests use it to start from nothing). */
  static forget(name: string): void {
    namedVolumes.delete(name);
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Makes an empty root; BackendAlreadyExists if the store exists. */
  protected async _create(): Promise<void> {
    const root = this.#volume.root;
    if (root && root.children.size > 0) throw new BackendAlreadyExists(`${this.location} already exists`);
    this.#volume.root = root ?? this.#newDir();
  }

  /** Drops all data; BackendDoesNotExist if there is no store. */
  protected async _destroy(): Promise<void> {
    if (!this.#volume.root) throw new BackendDoesNotExist(`${this.location} does not exist`);
    this.#volume.root = undefined;
  }

  /** BackendDoesNotExist unless the store was created. */
  protected async _open(): Promise<void> {
    if (!this.#volume.root) throw new BackendDoesNotExist(`${this.location} does not exist`);
  }

  /** Nothing to release. */
  protected async _close(): Promise<void> {}

  // ---- directories ------------------------------------------------------------------------

  /** Makes the directory and its missing parents. */
  protected async _mkdir(name: string): Promise<void> {
    this.#ensureDir(segments(name), name);
  }

  /** Removes an empty directory; BackendError if it is not empty or not a directory. */
  protected async _rmdir(name: string): Promise<void> {
    const parts = segments(name);
    const node = this.#lookup(parts);
    if (!node) throw new ObjectNotFound(name);
    if (node.kind !== "dir") throw new BackendError(`Not a directory: ${name}`);
    if (node.children.size > 0) throw new BackendError(`Directory not empty: ${name}`);
    if (parts.length === 0) return; // the root itself stays, as a filesystem's base dir would
    this.#parentOf(parts)?.children.delete(parts[parts.length - 1] as string);
  }

  // ---- items ------------------------------------------------------------------------------

  protected async _info(name: string): Promise<ItemInfo> {
    const node = this.#lookup(segments(name));
    if (!node) return { name: basename(name), exists: false, size: 0, directory: false, atime: 0 };
    return infoOf(basename(name), node);
  }

  protected async _load(name: string, options: LoadOptions): Promise<Uint8Array> {
    const node = this.#file(name);
    const { start, end } = resolveRange(options, node.data.byteLength);
    node.atime = this.#clock();
    // A copy (data is a plain Uint8Array, whose slice copies): the caller may change what it got.
    return node.data.slice(start, end);
  }

  protected async _store(name: string, value: Uint8Array): Promise<void> {
    const parts = segments(name);
    if (parts.length === 0) throw new BackendError("cannot store a value at the store root");
    const dir = this.#ensureDir(parts.slice(0, -1), name);
    const key = parts[parts.length - 1] as string;
    if (dir.children.get(key)?.kind === "dir") throw new BackendError(`Is a directory: ${name}`);
    // A copy: the caller may reuse its buffer as soon as store() returns. Not value.slice(): a
    // Node Buffer's slice() is a view of the same memory.
    dir.children.set(key, { kind: "file", data: new Uint8Array(value), atime: this.#clock() });
  }

  /** Removes an object; ObjectNotFound if missing. */
  protected async _delete(name: string): Promise<void> {
    const parts = segments(name);
    const node = this.#lookup(parts);
    if (!node) throw new ObjectNotFound(name);
    if (node.kind === "dir") throw new BackendError(`Is a directory: ${name}`);
    this.#parentOf(parts)?.children.delete(parts[parts.length - 1] as string);
  }

  protected async _move(currentName: string, newName: string): Promise<void> {
    const from = segments(currentName);
    const node = this.#lookup(from);
    if (!node || from.length === 0) throw new ObjectNotFound(currentName);
    const to = segments(newName);
    if (to.length === 0) throw new BackendError("cannot move onto the store root");
    if (currentName === newName) return;
    const target = this.#ensureDir(to.slice(0, -1), newName);
    const key = to[to.length - 1] as string;
    const existing = target.children.get(key);
    if (existing && existing.kind !== node.kind) throw new BackendError(`cannot move ${currentName} onto ${newName}`);
    if (existing?.kind === "dir" && existing.children.size > 0) throw new BackendError(`Directory not empty: ${newName}`);
    this.#parentOf(from)?.children.delete(from[from.length - 1] as string);
    target.children.set(key, node);
  }

  protected async *_list(name: string): AsyncIterable<ItemInfo> {
    const dir = this.#lookup(segments(name));
    if (!dir) throw new ObjectNotFound(name);
    if (dir.kind !== "dir") throw new BackendError(`Not a directory: ${name}`);
    const names = [...dir.children.keys()].filter((child) => isValidName(child)).sort();
    for (const child of names) {
      // Entries removed while the listing is under way are skipped, as posixfs does.
      const node = dir.children.get(child);
      if (node) yield infoOf(child, node);
    }
  }

  // ---- tree walking -----------------------------------------------------------------------

  #newDir(): DirNode {
    return { kind: "dir", children: new Map(), atime: this.#clock() };
  }

  #root(): DirNode {
    const root = this.#volume.root;
    if (!root) throw new BackendDoesNotExist(`${this.location} does not exist`);
    return root;
  }

  #lookup(parts: readonly string[]): Node | undefined {
    let node: Node = this.#root();
    for (const part of parts) {
      if (node.kind !== "dir") return undefined;
      const child: Node | undefined = node.children.get(part);
      if (!child) return undefined;
      node = child;
    }
    return node;
  }

  #parentOf(parts: readonly string[]): DirNode | undefined {
    const parent = this.#lookup(parts.slice(0, -1));
    return parent?.kind === "dir" ? parent : undefined;
  }

  #file(name: string): FileNode {
    const node = this.#lookup(segments(name));
    if (!node) throw new ObjectNotFound(name);
    if (node.kind !== "file") throw new BackendError(`Is a directory: ${name}`);
    return node;
  }

  /** mkdir -p: every missing directory of `parts` is created. */
  #ensureDir(parts: readonly string[], name: string): DirNode {
    let dir = this.#root();
    for (const part of parts) {
      let child = dir.children.get(part);
      if (!child) dir.children.set(part, (child = this.#newDir()));
      if (child.kind !== "dir") throw new BackendError(`Not a directory: ${part} in ${name}`);
      dir = child;
    }
    return dir;
  }
}

function infoOf(name: string, node: Node): ItemInfo {
  return node.kind === "file"
    ? { name, exists: true, size: node.data.byteLength, directory: false, atime: node.atime }
    : { name, exists: true, size: 0, directory: true, atime: node.atime };
}

/** `memory:` → a fresh store; `memory://NAME` → the process-wide store NAME. */
export function memoryBackendFromUrl(url: string, options: UrlOptions = {}): MemoryBackend | undefined {
  const match = /^memory:(?:\/\/([^/?#]*))?$/i.exec(url);
  if (!match) return undefined;
  if (options.quota !== undefined) throw new InvalidArgument("The memory backend does not support a quota.");
  const name = match[1] === undefined || match[1] === "" ? undefined : decodeURIComponent(match[1]);
  if (name?.includes("/")) throw new BackendURLInvalid(`Invalid memory URL: ${url}`);
  return new MemoryBackend({ name, permissions: options.permissions });
}

/** The `memory://NAME` URL scheme (a private store for `memory:`), registered by core itself. */
export const memoryPlugin: BackendPlugin = {
  schemes: ["memory"],
  fromUrl: memoryBackendFromUrl,
};
