import { setTimeout as sleep } from "node:timers/promises";
import {
  Backend,
  BackendAlreadyExists,
  type BackendCapabilities,
  BackendDoesNotExist,
  BackendError,
  type BackendOptions,
  type BufferLoadOptions,
  type ByteSource,
  BorgStoreError,
  type ItemInfo,
  type LoadOptions,
  ObjectNotFound,
  type SizedByteSource,
  type StoreStreamOptions,
  isValidName,
} from "@borgstore/core";
import {
  resolveRange,
  basename,
  dirname,
  joinName,
  KeyedQueue,
  contentRangeTotal,
  planRangeRequest,
  readResponseBody,
  sizedBytes,
  sizedSource,
  tempName,
} from "@borgstore/core/backend";
import type { Dispatcher } from "undici";
import { rcloneHashType, serverSideAlgorithms } from "./hash-names.js";
import { toBackendError } from "./errors.js";
import { RcClient, RcloneCallFailed } from "./rc-client.js";
import { type RcdLease, acquireRcd } from "./shared-rcd.js";
import { normalizeRemote } from "./url.js";

/** Options of `new RcloneBackend(...)`. */
export interface RcloneBackendOptions extends BackendOptions {
  /**
   * rclone remote spec, as rclone takes it: `remote:path`, `remote:`, `:local:/dir`,
   * `:sftp,host=…:path`, or a local path. `/` is appended unless it ends with `:` or `/`.
   */
  remote: string;
  /** rclone executable. Default: env RCLONE_BINARY, else `rclone` on PATH. */
  binary?: string;
  /** Pass rclone's DEBUG log to stderr. Default: env BORGSTORE_RCLONE_DEBUG is 1/true/yes/y/on. */
  debug?: boolean;
  /** Keep-alive connections to rcd for rc calls, i.e. operations in flight at once (default 32); file reads have as many again of their own. */
  connections?: number;
  /** Attempts for operations that fail transiently: HTTP 500 from rclone, lost connections (default 3). */
  tries?: number;
  /** First pause before a retry in ms, growing 4× per retry (default 200). */
  backoffMs?: number;
  /** Longest wait for rclone's answer or for the next piece of a body, in ms (default 300000). */
  timeoutMs?: number;
  /** Longest wait for rcd to start listening, in ms (default 30000). */
  startTimeoutMs?: number;
  /** More flags for `rclone rcd`, e.g. ["--config", "/etc/rclone.conf"]. */
  rcloneArgs?: readonly string[];
  /**
   * How long an rcd started only for create() or destroy() stays up for a following open() (or
   * another backend of this process) before it stops, in ms (default 2000). close() always stops
   * the daemon at once unless another open backend of this process shares it.
   */
  lingerMs?: number;
}

/** Oldest rclone whose rc API has all this backend uses (as the reference requires). */
export const MIN_RCLONE_VERSION = [1, 57, 0] as const;

const NO_DETAILS = { noModTime: true, noMimeType: true };
/** operations/stat options for telling one file under a name from another. */
const WITH_MOD_TIME = { noMimeType: true };
/**
 * Reads a file this many times while it is replaced under the reply, then gives up: with the
 * growing random pauses between them (at most a second each), about four seconds for a burst of
 * stores to pass (32 writers of one name on a busy 2-core machine outlasted two seconds in CI).
 */
const READ_ATTEMPTS = 16;
const LONGEST_READ_PAUSE_MS = 1000;

/** A reply proven to hold the file the read was planned for (see #read). */
interface VerifiedRead {
  res: Dispatcher.ResponseData;
  /** The whole file's size. */
  total: number;
  /** [start, end) to cut out of a reply that ignored the Range header. */
  slice: [number, number] | undefined;
}

interface RcloneItem {
  Name: string;
  Size: number;
  IsDir: boolean;
  /** RFC 3339, nanoseconds where the remote keeps them (local); absent with noModTime. */
  ModTime?: string;
  Hashes?: Record<string, string>;
}

/** What operations/fsinfo says about the remote, as far as this backend cares. */
interface RemoteFeatures {
  hashes: string[];
  /** Empty directories exist on their own (false on bucket stores). */
  emptyDirectories: boolean;
  /** A disk of this machine. */
  local: boolean;
}

function envFlag(value: string | undefined): boolean {
  return ["1", "true", "yes", "y", "on"].includes((value ?? "").toLowerCase());
}

/** Tries of a move whose source rclone said it could not find while a stat still finds it (see #moveUploaded, _move). */
const MISSING_SOURCE_MOVE_ATTEMPTS = 4;

function missing(name: string): ItemInfo {
  return { name: basename(name), exists: false, size: 0, directory: false, atime: 0 };
}

function itemInfo(item: RcloneItem): ItemInfo {
  return { name: item.Name, exists: true, size: item.IsDir ? 0 : Math.max(0, item.Size), directory: item.IsDir, atime: 0 };
}

/**
 * A borgstore backend on any rclone remote. It starts its own `rclone rcd` (loopback, random port
 * and credentials) while open, or briefly for create/destroy, and drives it over rclone's rc HTTP
 * API; values are read through rcd's file serving (`--rc-serve`) with HTTP ranges.
 */
export class RcloneBackend extends Backend {
  /** The rclone fs spec names are joined onto (the remote with a trailing `/` or `:`). */
  readonly remote: string;
  readonly #options: RcloneBackendOptions;
  #lease: RcdLease | undefined;
  #rc: RcClient | undefined;
  #features: RemoteFeatures | undefined;
  /** The remote cannot move over an existing name: replace by delete + move (not atomic). */
  #replaceByDelete = false;
  #reviving: Promise<RcClient> | undefined;
  readonly #moving = new KeyedQueue();

  constructor(options: RcloneBackendOptions) {
    super(options);
    this.remote = normalizeRemote(options.remote);
    this.#options = options;
  }

  get capabilities(): BackendCapabilities {
    return {
      atime: false,
      quota: false,
      directories: this.#features?.emptyDirectories ?? true,
      streaming: true,
      serverSideHash: serverSideAlgorithms(this.#features?.hashes ?? []),
    };
  }

  override get location(): string {
    return this.remote;
  }

  /** rcd's address while open, http://127.0.0.1:PORT (for diagnostics and tests; it needs the backend's credentials). */
  get rcdUrl(): string | undefined {
    return this.#lease?.rcd.origin;
  }

  /** rclone's pid while open (for diagnostics and tests). */
  get rclonePid(): number | undefined {
    return this.#lease?.rcd.pid;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Makes the remote's base path; BackendAlreadyExists if it has contents. */
  protected async _create(): Promise<void> {
    await this.#session(async (rc) => {
      let entries: RcloneItem[] = [];
      try {
        ({ list: entries } = await rc.call<{ list: RcloneItem[] }>("operations/list", { fs: this.remote, remote: "", opt: NO_DETAILS }));
      } catch (err) {
        if (!(err instanceof RcloneCallFailed && err.status === 404)) throw toBackendError(err);
      }
      if (entries.length > 0) throw new BackendAlreadyExists(`rclone storage base path exists and isn't empty: ${this.remote}`);
      await rc.call("operations/mkdir", { fs: this.remote, remote: "" }).catch((err) => Promise.reject(toBackendError(err)));
    });
  }

  /** Purges the remote's base path; BackendDoesNotExist if missing. */
  protected async _destroy(): Promise<void> {
    await this.#session(async (rc) => {
      if (!(await this.#stat(rc, "")))
        throw new BackendDoesNotExist(`rclone storage base path does not exist: ${this.remote}`);
      await rc.call("operations/purge", { fs: this.remote, remote: "" }).catch((err) => Promise.reject(toBackendError(err)));
    });
  }

  /** Starts (or joins) an rclone rcd and checks the base path exists where the remote has directories. */
  protected async _open(): Promise<void> {
    const rc = await this.#connect();
    try {
      // Bucket stores have no directory until something is stored in it: only check where one exists.
      if (this.#features?.emptyDirectories && !(await this.#stat(rc, "")))
        throw new BackendDoesNotExist(`rclone storage base path does not exist: ${this.remote}`);
    } catch (err) {
      await this.#disconnect();
      throw err;
    }
  }

  /** Releases the rcd connection (a shared daemon stops when its last user leaves). */
  protected async _close(): Promise<void> {
    await this.#disconnect();
  }

  /** Runs `fn` with the open connection, or with a daemon started just for it (create, destroy). */
  async #session<T>(fn: (rc: RcClient) => Promise<T>): Promise<T> {
    if (this.#rc) return fn(this.#rc);
    const rc = await this.#connect(false);
    try {
      return await fn(rc);
    } finally {
      await this.#disconnect(this.#options.lingerMs ?? 2000);
    }
  }

  /** Starts (or shares) an rcd; `inspect` also asks the remote what it supports (for open). */
  async #connect(inspect = true): Promise<RcClient> {
    const o = this.#options;
    const binary = o.binary ?? process.env.RCLONE_BINARY ?? "rclone";
    const lease = await acquireRcd({
      binary,
      debug: o.debug ?? envFlag(process.env.BORGSTORE_RCLONE_DEBUG),
      startTimeoutMs: o.startTimeoutMs ?? 30_000,
      extraArgs: o.rcloneArgs ?? [],
    });
    const rc = new RcClient(lease.rcd, {
      connections: o.connections ?? 32,
      tries: o.tries ?? 3,
      backoffMs: o.backoffMs ?? 200,
      timeoutMs: o.timeoutMs ?? 300_000,
    });
    this.#lease = lease;
    this.#rc = rc;
    try {
      const version = await rc.call<{ version: string; decomposed: number[] }>("core/version", {});
      if (!isSupportedRcloneVersion(version.decomposed))
        throw new BackendDoesNotExist(
          `rclone version must be at least v${MIN_RCLONE_VERSION.join(".")} - found ${version.version} (${binary})`,
        );
      if (!inspect) return rc;
      const info = await rc.call<{ Hashes?: string[]; Features?: Record<string, boolean> }>("operations/fsinfo", {
        fs: this.remote,
      });
      // Where names may repeat, a move that does not look at the target would add a second file.
      this.#replaceByDelete = info.Features?.DuplicateFiles ?? false;
      this.#features = {
        hashes: info.Hashes ?? [],
        emptyDirectories: info.Features?.CanHaveEmptyDirectories ?? true,
        local: info.Features?.IsLocal ?? false,
      };
    } catch (err) {
      await this.#disconnect();
      throw toBackendError(err);
    }
    return rc;
  }

  async #disconnect(lingerMs = 0): Promise<void> {
    const rc = this.#rc;
    const lease = this.#lease;
    this.#rc = undefined;
    this.#lease = undefined;
    await rc?.close().catch(() => {});
    await lease?.release(lingerMs);
  }

  /**
   * The client of a running rcd. If rclone died since the last operation (crash, OOM killer, a
   * stray kill), a fresh one is started first: rcd holds no state of ours.
   */
  async #live(): Promise<RcClient> {
    if (this.#reviving) return this.#reviving;
    const rc = this.#rc;
    if (!rc || !this.#lease) throw new BackendError("rclone rcd is not running");
    if (this.#lease.rcd.alive) return rc;
    this.#reviving = (async () => {
      try {
        await this.#disconnect();
        return await this.#connect();
      } finally {
        this.#reviving = undefined;
      }
    })();
    return this.#reviving;
  }

  /**
   * rclone options for uploads. After an upload rclone compares the hash of what it received with
   * the hash the remote reports: worth it against a cloud provider, but on a local disk both are
   * MD5s rclone computed itself over the same bytes, which costs as much CPU as the write.
   */
  get #uploadConfig(): object | undefined {
    return this.#features?.local ? { IgnoreChecksum: true } : undefined;
  }

  /** The item at `name`, or undefined when nothing is there. */
  async #stat(rc: RcClient, name: string, opt: object = NO_DETAILS): Promise<RcloneItem | undefined> {
    try {
      const { item } = await rc.call<{ item: RcloneItem | null }>("operations/stat", { fs: this.remote, remote: name, opt });
      return item ?? undefined;
    } catch (err) {
      // A missing base directory is 404; a path through a file "is not a directory".
      if (err instanceof RcloneCallFailed && (err.status === 404 || /not a directory/i.test(err.rcloneError))) return undefined;
      throw toBackendError(err, name);
    }
  }

  // ---- directories ------------------------------------------------------------------------

  /** Makes directory `name` on the remote. */
  protected async _mkdir(name: string): Promise<void> {
    await (await this.#live()).call("operations/mkdir", { fs: this.remote, remote: name }).catch((err) => Promise.reject(toBackendError(err)));
  }

  /** Removes the empty directory `name` (ObjectNotFound if missing, refused for a file). */
  protected async _rmdir(name: string): Promise<void> {
    const rc = await this.#live();
    // rclone's rmdir on a local remote would remove a file as well: check what is there first.
    const item = await this.#stat(rc, name);
    if (!item) throw new ObjectNotFound(name);
    if (!item.IsDir) throw new BackendError(`not a directory: ${name}`);
    await rc.call("operations/rmdir", { fs: this.remote, remote: name }).catch((err) => Promise.reject(toBackendError(err, name)));
  }

  // ---- items ------------------------------------------------------------------------------

  protected async _info(name: string): Promise<ItemInfo> {
    const item = await this.#stat(await this.#live(), name);
    return item ? { ...itemInfo(item), name: basename(name) } : missing(name);
  }

  protected async *_list(name: string): AsyncIterable<ItemInfo> {
    let list: RcloneItem[];
    try {
      ({ list } = await (await this.#live()).call<{ list: RcloneItem[] }>("operations/list", { fs: this.remote, remote: name, opt: NO_DETAILS }));
    } catch (err) {
      if (err instanceof RcloneCallFailed && /not a directory/i.test(err.rcloneError)) throw new ObjectNotFound(name, { cause: err });
      throw toBackendError(err, name);
    }
    const items = list.filter((item) => isValidName(item.Name)).sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    for (const item of items) yield itemInfo(item);
  }

  protected async _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    // The whole value is wanted at once: let it arrive in full while #read stats the name again.
    const read = await this.#read(name, options, 8 * 1024 * 1024);
    if (!read) return new Uint8Array(0);
    const bytes = await bodyErrorsTyped(
      () =>
        readResponseBody(read.res.body, {
          length: contentLength(read.res),
          into: read.slice ? undefined : options.into,
          signal: options.signal,
          what: `reading ${name} from rclone`,
        }),
      name,
    );
    return read.slice ? bytes.subarray(...read.slice) : bytes;
  }

  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const read = await this.#read(name, options);
    if (!read) return sizedBytes(new Uint8Array(0));
    const announced = contentLength(read.res);
    if (read.slice || announced === undefined) {
      const what = `reading ${name} from rclone`;
      const bytes = await bodyErrorsTyped(() => readResponseBody(read.res.body, { length: announced, signal: options.signal, what }), name);
      const kept = read.slice ? bytes.subarray(...read.slice) : bytes;
      return sizedBytes(kept, read.total >= kept.byteLength ? read.total : undefined);
    }
    // The size of this very response: the name may hold a value of another size by now.
    return sizedSource(typedBody(read.res.body, name), announced, read.total >= announced ? read.total : undefined);
  }

  /**
   * Opens a read of the requested range, exact, planned from a stat of the name. rclone's file
   * serving takes the reply's Content-Length and Content-Range total from one look-up by name and
   * then opens the file by name again (rclone 1.60, lib/http/serve Object, and the local remote
   * checks the opened file against that look-up only for reads from offset 0), so a file renamed
   * over the name between the two is served framed by the older file's size: a slice from the
   * wrong place, or a prefix of the newer value. rclone has opened the file once its reply's
   * headers arrive: a second stat that finds the same size and modification time as the first
   * proves the name held that one file all along, so the reply is that file's. Otherwise the reply
   * is dropped and the read planned again. Undefined = nothing to read.
   */
  async #read(name: string, options: LoadOptions, bufferBytes?: number): Promise<VerifiedRead | undefined> {
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
      // Writers in a burst: wait a growing, random while, so a read finds a moment between two.
      if (attempt > 1) await sleep(Math.random() * Math.min(2 ** attempt, LONGEST_READ_PAUSE_MS));
      const rc = await this.#live();
      const before = await this.#stat(rc, name, WITH_MOD_TIME);
      if (!before || before.IsDir) throw new ObjectNotFound(name);
      const plan = await planRangeRequest(options, before.Size);
      if (!plan) return undefined;
      const { range } = plan;
      let res: Dispatcher.ResponseData;
      try {
        res = await rc.serve(this.remote, name, range, bufferBytes, options.signal);
      } catch (err) {
        throw toBackendError(err, name);
      }
      // rclone may close the reply while it waits (its read failed): the error surfaces when the
      // body is read, not as an event nobody listens to.
      res.body.on("error", () => undefined);
      const after = await this.#stat(rc, name, WITH_MOD_TIME).catch((err: unknown) => {
        res.body.destroy();
        throw err;
      });
      // A server that ignored the Range header sent everything: the range is cut out here.
      const contentRange = res.headers["content-range"];
      const total = res.statusCode === 206 ? contentRangeTotal(typeof contentRange === "string" ? contentRange : undefined) : contentLength(res);
      if (after && sameFile(before, after) && total === before.Size) {
        const { start, end } = resolveRange(options, total);
        return { res, total, slice: range && res.statusCode === 200 ? [start, end] : undefined };
      }
      res.body.destroy(); // the connection goes too, if bytes were left
    }
    throw new BackendError(`${name} was replaced during each of ${READ_ATTEMPTS} reads; try again`);
  }

  protected async _store(name: string, value: Uint8Array): Promise<void> {
    await this.#storeVia(name, (rc, dir, temp) => rc.upload(this.remote, dir, temp, value, { config: this.#uploadConfig }));
  }

  protected override async _storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    await this.#storeVia(name, (rc, dir, temp) =>
      rc.upload(this.remote, dir, temp, source, { size: options.size, config: this.#uploadConfig }),
    );
  }

  /** Uploads to a temp name in the target's directory, then moves it over the target. */
  async #storeVia(name: string, upload: (rc: RcClient, dir: string, temp: string) => Promise<void>): Promise<void> {
    const rc = await this.#live();
    const dir = dirname(name);
    // operations/uploadfile overwrites whatever has the name: the temp name must never clash.
    const temp = joinName(dir, tempName(16));
    try {
      await upload(rc, dir, basename(temp));
      await this.#moveUploaded(rc, temp, name);
    } catch (err) {
      await rc.call("operations/deletefile", { fs: this.remote, remote: temp }, { retry: false }).catch(() => {});
      throw toBackendError(err);
    }
  }

  /**
   * Moves a just-uploaded temp file over `name`. rclone 1.60's sftp remote now and then answers
   * the move with 404 "NewObject failed: object not found" or 500 "Rename failed: file does not
   * exist" for a file its upload has just written (seen in CI with 32 writers on one name): while a
   * stat still finds the temp file, the move is asked again.
   */
  async #moveUploaded(rc: RcClient, temp: string, name: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#moveFile(rc, temp, name);
      } catch (err) {
        const sourceNotFound =
          err instanceof RcloneCallFailed && (err.status === 404 || /not found|does not exist/i.test(err.rcloneError));
        if (!sourceNotFound || attempt >= MISSING_SOURCE_MOVE_ATTEMPTS || !(await this.#stat(rc, temp))) throw err;
        await sleep(attempt * 10);
      }
    }
  }

  /** Deletes the file of `name` on the remote. */
  protected async _delete(name: string): Promise<void> {
    try {
      await (await this.#live()).call("operations/deletefile", { fs: this.remote, remote: name }, { notFoundOnRetryIsDone: true });
    } catch (err) {
      // Another delete or move of the name got there between rclone's look-up and its remove.
      if (vanishedDuring(err, "remove", name)) throw new ObjectNotFound(name, { cause: err });
      throw toBackendError(err, name);
    }
  }

  protected async _move(currentName: string, newName: string): Promise<void> {
    const rc = await this.#live();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#moveFile(rc, currentName, newName);
      } catch (err) {
        // Another delete or move of the source got there between rclone's look-up and its rename.
        if (vanishedDuring(err, "rename", currentName)) throw new ObjectNotFound(currentName, { cause: err });
        if (!isRenameOfMissingFile(err)) throw toBackendError(err, currentName);
        // The sftp remote's SSH_FX_NO_SUCH_FILE names no file: it was the source if that is gone.
        if (!(await this.#stat(rc, currentName))) throw new ObjectNotFound(currentName, { cause: err });
        // The source is there again: a store of it replaced it by delete + rename (rclone 1.60's
        // sftp remote) between the two halves of our rename, so the move is asked again.
        if (attempt >= MISSING_SOURCE_MOVE_ATTEMPTS) throw toBackendError(err, currentName);
        await sleep(attempt * 10);
      }
    }
  }

  /**
   * operations/movefile, told not to look at an existing target (NoCheckDest): by default rclone
   * deletes the target first (a moment without any value) and even skips the move, keeping the old
   * value, when size and modification time match. Some remotes cannot rename over an existing file
   * (rclone 1.60's sftp) and names may repeat on others (Google Drive, where an unchecked move adds
   * a second file): there the move only turns the comparison off (IgnoreTimes) and rclone replaces
   * the target by deleting it first.
   */
  async #moveFile(rc: RcClient, from: string, to: string): Promise<void> {
    const params = { srcFs: this.remote, srcRemote: from, dstFs: this.remote, dstRemote: to };
    // Our own moves onto one name never interleave (where replacing takes a delete and a rename,
    // another rename between the two would make the second fail).
    await this.#moving.run(to, async () => {
      if (!this.#replaceByDelete) {
        try {
          await movedDespiteVanishedTarget(
            rc.call("operations/movefile", { ...params, _config: { NoCheckDest: true } }, { notFoundOnRetryIsDone: true }),
            to,
          );
          return;
        } catch (err) {
          if (!(err instanceof RcloneCallFailed && err.status === 500 && /rename|exists/i.test(err.rcloneError))) throw err;
          this.#replaceByDelete = true;
        }
      }
      await movedDespiteVanishedTarget(
        rc.call("operations/movefile", { ...params, _config: { IgnoreTimes: true } }, { notFoundOnRetryIsDone: true }),
        to,
      );
    });
  }

  protected override async _hash(name: string, algorithm: string): Promise<string> {
    const type = rcloneHashType(algorithm);
    if (type && this.#features?.hashes.includes(type)) {
      const item = await this.#stat(await this.#live(), name, { ...NO_DETAILS, showHash: true, hashTypes: [type] });
      if (!item || item.IsDir) throw new ObjectNotFound(name);
      const digest = item.Hashes?.[type];
      if (digest) return digest.toLowerCase();
    }
    // The remote cannot hash this (or gave no value): stream the object through a local hasher.
    return super._hash(name, algorithm);
  }
}

/**
 * A movefile whose rename happened, though rclone then failed to look at the target because a
 * delete or move of that name came right after ("lstat <target>: no such file"), counts as done:
 * the value was in place, then went away by the other operation.
 */
async function movedDespiteVanishedTarget(move: Promise<unknown>, to: string): Promise<void> {
  try {
    await move;
  } catch (err) {
    if (!vanishedDuring(err, "lstat", to)) throw err;
  }
}

/**
 * rclone's 500 for a local file `name` that was gone when its `call` ran: "lstat <path>: …",
 * "remove <path>: …", "rename <path> <other path>: no such file or directory" (the first path).
 */
function vanishedDuring(err: unknown, call: "lstat" | "remove" | "rename", name: string): boolean {
  if (!(err instanceof RcloneCallFailed && err.status === 500)) return false;
  const text = err.rcloneError.trim();
  if (!text.startsWith(`${call} `) || !text.endsWith(": no such file or directory")) return false;
  const paths = text.slice(call.length + 1, -": no such file or directory".length);
  return call === "rename" ? paths.includes(`/${name} `) : paths.endsWith(`/${name}`);
}

/** rclone's 500 for a rename over SFTP whose file was missing ("Move Rename failed: file does not exist"). */
function isRenameOfMissingFile(err: unknown): boolean {
  return err instanceof RcloneCallFailed && err.status === 500 && /rename failed: file does not exist/i.test(err.rcloneError);
}

/** Two stats of one name show the same file: same size, same modification time. */
function sameFile(a: RcloneItem, b: RcloneItem): boolean {
  return !b.IsDir && a.Size === b.Size && a.ModTime !== undefined && a.ModTime === b.ModTime;
}

/** undici's errors while reading a reply body (rclone closed it midway) as a BackendError. */
async function bodyErrorsTyped<T>(read: () => Promise<T>, name: string): Promise<T> {
  try {
    return await read();
  } catch (err) {
    throw err instanceof BorgStoreError ? err : new BackendError(`reading ${name} from rclone failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A reply body whose read errors are BackendErrors. It is iterated at once, as undici's body would
 * otherwise emit an error nobody listens to when rclone closes the connection before it is read.
 */
function typedBody(body: AsyncIterable<Uint8Array>, name: string): AsyncIterable<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]();
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => bodyErrorsTyped(() => chunks.next(), name),
      return: async () => (await chunks.return?.()) ?? { done: true, value: undefined },
    }),
  };
}

/** The reply's Content-Length, if it sent a usable one. */
function contentLength(res: Dispatcher.ResponseData): number | undefined {
  const announced = Number(res.headers["content-length"]);
  return Number.isSafeInteger(announced) && announced >= 0 ? announced : undefined;
}

/** True for rclone versions (core/version's `decomposed`, e.g. [1, 60, 1]) from MIN_RCLONE_VERSION on. */
export function isSupportedRcloneVersion(decomposed: readonly number[]): boolean {
  for (let i = 0; i < MIN_RCLONE_VERSION.length; i++) {
    const d = (decomposed[i] ?? 0) - (MIN_RCLONE_VERSION[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}
