import { posix } from "node:path";
import {
  Backend,
  type BackendCapabilities,
  type BackendOptions,
  BackendAlreadyExists,
  BackendConnectionError,
  BackendDoesNotExist,
  BackendError,
  type ByteSource,
  type ItemInfo,
  type LoadOptions,
  type SizedByteSource,
  type StoreStreamOptions,
  bytesSource,
  isValidName,
} from "@borgstore/core";
import { basename, resolveRange, sizedSource, tempName, type RetryPolicy, withRetry } from "@borgstore/core/backend";
import { type ConnectionTimeouts, type RemoteEntry, SftpConnection, type SftpRequests } from "./connection.js";
import { acquireConnection, releaseConnection } from "./connection-pool.js";
import { isConnectionLost, isNoSuchFile, toBackendError } from "./errors.js";
import { type SshOptions, type SshSettings, resolveSshSettings } from "./ssh-settings.js";
import {
  type Lane,
  PipelinedWriter,
  type TransferTuning,
  readRange,
  readRangeInto,
  readRangeStream,
  writeSource,
} from "./transfer.js";
import type { SftpLocation } from "./url.js";

export interface SftpBackendOptions extends BackendOptions, SshOptions, Partial<ConnectionTimeouts>, Partial<TransferTuning> {
  /** Reconnect attempts after a lost connection (default 3). */
  reconnectAttempts?: number;
  /** Pause before each reconnect, ms (default 5000). */
  reconnectDelay?: number;
  /**
   * SFTP channels per connection (default 4), each served by its own sftp-server process and with
   * its own flow-control window: an operation runs on the least busy one, so concurrent operations
   * are neither queued behind one server process nor share one window over a high-latency link.
   * 1 uses a single channel.
   */
  sftpChannels?: number;
  /** How long a closed backend's connection stays idle for reuse by the next open/create/destroy to the same server, ms (default 5000; 0 closes at once). */
  idleConnectionTimeout?: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
/**
 * Defaults of spreadBytes / spreadRoundTrip. Each SFTP channel brings its own flow-control window,
 * and sshd's ~2 MiB per channel caps one channel at ~2 MiB per round trip (~200 MB/s at 10 ms):
 * a big store over a slow link also opens its temp file on the other channels and spreads its
 * writes over all of them (loads do not: the name opened again may be another value by then). On a fast link (loopback, LAN) it would only add server processes
 * working on the same file. Measured: 64 MiB at +10 ms RTT twice as fast (store ~140 → ~295 MB/s).
 */
const SPREAD_BYTES = 8 * 1024 * 1024;
const SPREAD_ROUND_TRIP_MS = 2;

/**
 * Stores each item as a file below a base directory on an SFTP server, in the same layout as
 * posixfs (docs/on-disk-format.md#posixfs-layout): a store written here opens with posixfs on the server's disk and the reverse.
 */
export class SftpBackend extends Backend {
  readonly capabilities: BackendCapabilities = {
    atime: true,
    quota: false,
    directories: true,
    streaming: true,
    serverSideHash: [],
  };
  /** User, host, port and path the backend's URL names. */
  readonly target: SftpLocation;
  readonly #options: SftpBackendOptions;
  readonly #timeouts: ConnectionTimeouts;
  readonly #tuning: TransferTuning;
  readonly #retry: RetryPolicy;
  readonly #idleTimeout: number;
  readonly #channels: number;
  #conn: SftpConnection | undefined;
  #settings: SshSettings | undefined;
  readonly #orphanedTemps = new Set<string>();
  #reconnecting: Promise<void> | undefined;
  /** Counts closes: a reconnect that finishes after a close must not hand its connection to the closed backend. */
  #closes = 0;
  /** Absolute base path on the server, resolved at open. */
  #root = "";

  constructor(location: SftpLocation, options: SftpBackendOptions = {}) {
    super(options);
    this.target = location;
    this.#options = options;
    this.#timeouts = {
      connectTimeout: options.connectTimeout ?? 30_000,
      keepaliveInterval: options.keepaliveInterval ?? 30_000,
      operationTimeout: options.operationTimeout ?? 120_000,
    };
    this.#tuning = {
      chunkSize: options.chunkSize ?? 256 * 1024,
      requestsInFlight: options.requestsInFlight ?? 16,
      spreadBytes: options.spreadBytes ?? SPREAD_BYTES,
      spreadRoundTrip: options.spreadRoundTrip ?? SPREAD_ROUND_TRIP_MS,
    };
    this.#retry = { retries: options.reconnectAttempts ?? 3, delay: options.reconnectDelay ?? 5000 };
    this.#idleTimeout = options.idleConnectionTimeout ?? 5000;
    this.#channels = Math.max(1, Math.floor(options.sftpChannels ?? 4) || 1);
  }

  override get location(): string {
    const { username, hostname, port, path } = this.target;
    return `sftp://${username ? `${encodeURIComponent(username)}@` : ""}${hostname}${port ? `:${port}` : ""}/${path}`;
  }

  /** Where and how this backend connects, after ssh config (for diagnostics; a passphrase shows as `***`). */
  get sshSettings(): SshSettings {
    const settings = this.#sshSettings;
    return settings.passphrase === undefined ? { ...settings } : { ...settings, passphrase: "***" };
  }

  get #sshSettings(): SshSettings {
    this.#settings ??= resolveSshSettings(this.target, this.#options);
    return this.#settings;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /**
   * A connection from the pool (or a new one) running `run`. A pooled connection may have died
   * while idle: then `run` gets one fresh connection, which is not a retry in the sense of docs/rest-protocol.md#reconnecting.
   */
  async #acquire<T>(run: (requests: SftpRequests) => Promise<T>): Promise<{ conn: SftpConnection; result: T }> {
    const settings = this.#sshSettings;
    const { conn, reused } = await acquireConnection(settings, this.#timeouts, this.#channels);
    try {
      return { conn, result: await run(conn.primary) };
    } catch (err) {
      if (!(reused && isConnectionLost(err))) {
        releaseConnection(settings, conn, this.#idleTimeout);
        throw err;
      }
      conn.destroy();
    }
    const fresh = await SftpConnection.connect(settings, this.#timeouts, this.#channels);
    try {
      return { conn: fresh, result: await run(fresh.primary) };
    } catch (err) {
      releaseConnection(settings, fresh, this.#idleTimeout);
      throw err;
    }
  }

  /** create and destroy run outside a session and are never retried (docs/rest-protocol.md#reconnecting). */
  async #outsideSession<T>(run: (requests: SftpRequests) => Promise<T>): Promise<T> {
    const { conn, result } = await this.#acquire(run);
    releaseConnection(this.#sshSettings, conn, this.#idleTimeout);
    return result;
  }

  /** Makes the remote base directory and its parents; BackendAlreadyExists if it has contents. */
  protected async _create(): Promise<void> {
    await this.#outsideSession(async (conn) => {
      const base = this.target.path;
      try {
        await mkdirs(conn, base);
        const entries = await conn.readdir(base);
        if (entries.length > 0) throw new BackendAlreadyExists(`sftp storage base path is not empty: ${base}`);
      } catch (err) {
        throw toBackendError(err, base, "create");
      }
    });
  }

  /** Removes the remote base directory with everything in it; BackendDoesNotExist if missing. */
  protected async _destroy(): Promise<void> {
    await this.#outsideSession(async (conn) => {
      const base = this.target.path;
      try {
        await conn.stat(base);
      } catch (err) {
        if (isNoSuchFile(err)) throw new BackendDoesNotExist(`sftp storage base path does not exist: ${base}`, { cause: err });
        throw toBackendError(err, base, "destroy");
      }
      try {
        await removeTree(conn, base, true);
      } catch (err) {
        throw toBackendError(err, base, "destroy");
      }
    });
  }

  /** Connects (or reuses a pooled connection) and resolves the base directory. */
  protected async _open(): Promise<void> {
    const { conn, result } = await this.#acquire((c) => this.#resolveRoot(c));
    this.#root = result;
    this.#conn = conn;
  }

  /** Returns the connection to the pool, where it closes after an idle timeout. */
  protected async _close(): Promise<void> {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#closes++;
    if (conn) releaseConnection(this.#sshSettings, conn, this.#idleTimeout);
  }

  async #resolveRoot(conn: SftpRequests): Promise<string> {
    const base = this.target.path;
    let stats: { mode: number };
    try {
      stats = await conn.stat(base);
    } catch (err) {
      if (isNoSuchFile(err)) throw new BackendDoesNotExist(`sftp storage base path does not exist: ${base}`, { cause: err });
      throw toBackendError(err, base, "open");
    }
    if ((stats.mode & S_IFMT) !== S_IFDIR) throw new BackendDoesNotExist(`sftp storage base path is not a directory: ${base}`);
    // SFTP has no chdir: remember the absolute path, so a reconnect lands in the same place.
    return base.startsWith("/") ? base : await conn.realpath(base);
  }

  /** One reconnect shared by every operation that saw the same connection die. */
  async #reconnect(dead: SftpConnection | undefined): Promise<void> {
    if (this.#conn !== dead && this.#conn && !this.#conn.lost) return;
    const closes = this.#closes;
    this.#reconnecting ??= (async () => {
      try {
        this.#conn?.destroy();
        const conn = await SftpConnection.connect(this.#sshSettings, this.#timeouts, this.#channels);
        let root: string;
        try {
          root = await this.#resolveRoot(conn.primary);
          if (this.#closes !== closes) throw new BackendConnectionError("sftp backend was closed while reconnecting");
        } catch (err) {
          conn.close();
          throw err;
        }
        this.#root = root;
        this.#conn = conn;
        // Temp files of uploads the lost connection interrupted (invisible, but they take space).
        const orphans = [...this.#orphanedTemps];
        this.#orphanedTemps.clear();
        await Promise.all(orphans.map((temp) => conn.primary.unlink(temp).catch(() => {})));
      } finally {
        this.#reconnecting = undefined;
      }
    })();
    await this.#reconnecting;
  }

  /** Runs `op` on the current connection, reconnecting and retrying as docs/rest-protocol.md#reconnecting says while open. */
  async #run<T>(
    what: string,
    name: string,
    op: (conn: SftpRequests) => Promise<T>,
    options: { notFoundOnRetryIsDone?: boolean } = {},
  ): Promise<T> {
    let used: SftpConnection | undefined;
    const attempt = async () => {
      used = this.#current();
      try {
        // One channel for the whole operation: its requests are answered in order, its handles are its own.
        return await op(used.channel());
      } catch (err) {
        throw toBackendError(err, name, what);
      }
    };
    const reconnect = () => this.#reconnect(used);
    // close() drops the connection: a retry waiting then must not open a new one nobody closes.
    const stillOpen = () => this.#conn !== undefined;
    return (await withRetry(attempt, { ...this.#retry, ...options, backend: "sftp", reconnect, stillOpen, isConnectionLost })) as T;
  }

  #current(): SftpConnection {
    if (!this.#conn) throw new BackendError("sftp backend has no connection");
    return this.#conn;
  }

  /** Whether a store of `bytes` over `conn` goes over all its channels (its own temp file, so every opening is the same file). */
  #spreads(conn: SftpRequests, bytes: number): boolean {
    return bytes >= this.#tuning.spreadBytes && conn.roundTrip >= this.#tuning.spreadRoundTrip;
  }

  #path(name: string): string {
    return name === "" ? this.#root : `${this.#root}/${name}`;
  }

  // ---- operations -------------------------------------------------------------------------

  /** Makes directory `name` and its missing parents. */
  protected async _mkdir(name: string): Promise<void> {
    const path = this.#path(name);
    await this.#run("mkdir", name, async (conn) => {
      const st = await this.#withDirectories(conn, path, () => conn.stat(path));
      if ((st.mode & S_IFMT) !== S_IFDIR) await mkdirs(conn, path); // fails, telling why
    });
  }

  /** Removes the empty directory `name`. */
  protected async _rmdir(name: string): Promise<void> {
    await this.#run("rmdir", name, (conn) => conn.rmdir(this.#path(name)));
  }

  protected async _info(name: string): Promise<ItemInfo> {
    const base = basename(name);
    return this.#run("info", name, async (conn) => {
      try {
        const st = await conn.stat(this.#path(name));
        const directory = (st.mode & S_IFMT) === S_IFDIR;
        return { name: base, exists: true, size: st.size, directory, atime: st.atime ?? 0 };
      } catch (err) {
        if (isNoSuchFile(err)) return { name: base, exists: false, size: 0, directory: false, atime: 0 };
        throw err;
      }
    });
  }

  protected async _load(name: string, options: LoadOptions): Promise<Uint8Array> {
    return this.#run("load", name, async (conn) => {
      const handle = await conn.open(this.#path(name), "r");
      try {
        const offset = options.offset ?? 0;
        // The range is known without the size: no fstat round trip. Not for a size far beyond what one
        // transfer window reads ("at most N bytes"): the buffer is allocated before reading.
        if (offset >= 0 && options.size !== undefined && options.size !== null && options.size <= this.#tuning.chunkSize * this.#tuning.requestsInFlight)
          return await readRange(conn, handle, offset, offset + options.size, this.#tuning, options.signal);
        if (offset >= 0) {
          // Read the first chunk while asking for the size: small values take one round trip.
          const chunk = Math.min(this.#tuning.chunkSize, conn.maxChunk);
          const head = Buffer.allocUnsafe(chunk);
          const [{ size }, got] = await Promise.all([conn.fstat(handle), conn.read(handle, head, 0, chunk, offset)]);
          // Copy a small value out of the chunk-sized buffer rather than keep the whole buffer alive.
          if (offset + got >= size) return got === chunk ? head : Buffer.from(head.subarray(0, got));
          // The rest goes straight into the result: no second copy of a big value. Only through this
          // handle: the name opened again (on another channel) may already be another value of the
          // same size and mtime second, and SFTP shows no inode to tell them apart.
          const whole = Buffer.allocUnsafe(size - offset);
          head.copy(whole, 0, 0, got);
          const rest = await readRangeInto([{ conn, handle }], whole, got, offset + got, size, this.#tuning, options.signal);
          return got + rest === whole.length ? whole : whole.subarray(0, got + rest);
        }
        const { size } = await conn.fstat(handle);
        const { start, end } = resolveRange(options, size);
        return await readRange(conn, handle, start, end, this.#tuning, options.signal);
      } finally {
        // Nothing waits for the answer: a read handle's close cannot lose data.
        conn.closeHandle(handle).catch(() => {});
      }
    });
  }

  /**
   * Streams with read-ahead, through the one handle opened first. A connection lost mid-stream
   * fails the stream (BackendConnectionError; load again from the start): the name opened again
   * on a new connection may be another value of the same size and mtime second, and SFTP shows
   * no inode to tell them apart.
   */
  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const first = await this.#run("load", name, async (conn) => {
      const handle = await conn.open(this.#path(name), "r");
      try {
        return { conn, handle, size: (await conn.fstat(handle)).size };
      } catch (err) {
        conn.closeHandle(handle).catch(() => {});
        throw err;
      }
    });
    const { start, end } = resolveRange(options, first.size);
    let released = false;
    // Nothing waits for the answer: a read handle's close cannot lose data.
    const release = () => {
      if (released) return;
      released = true;
      first.conn.closeHandle(first.handle).catch(() => {});
    };
    // The size of the opened file (fstat of its handle), not of whatever the name holds by now.
    const size = Math.max(0, end - start);
    const stream = translateErrors(readRangeStream(first, start, end, this.#tuning, release), name);
    return sizedSource(releasedOnReturn(stream, release), size, first.size);
  }

  protected async _store(name: string, value: Uint8Array): Promise<void> {
    await this.#run("store", name, (conn) => this.#storeVia(conn, name, bytesSource(value), value.byteLength));
  }

  /**
   * Streams to a temp file and renames it only after the whole source was consumed (core's size
   * and hash checks throw at its end). Not retried: the source cannot be replayed.
   */
  protected override async _storeStream(name: string, source: ByteSource, options?: StoreStreamOptions): Promise<void> {
    const watched = failuresOf(source);
    try {
      await this.#storeVia(this.#current().channel(), name, watched.source, options?.size);
    } catch (err) {
      // The caller's own source failing is the caller's error, not the server's.
      if (watched.failed(err)) throw err;
      throw toBackendError(err, name, "store");
    }
  }

  /**
   * One store attempt through `tmpXXXXXXXX.tmp` next to `name` (0600, like posixfs), creating
   * missing directories. The temp name is chosen before the OPEN goes out, so when the connection
   * dies at any point the file it may have left is known and removed after the reconnect.
   */
  async #storeVia(conn: SftpRequests, name: string, source: ByteSource, size: number | undefined): Promise<void> {
    const dir = posix.dirname(this.#path(name));
    const temp = `${dir}/${tempName()}`;
    try {
      let handle: Buffer;
      try {
        handle = await conn.open(temp, "wx", 0o600);
      } catch (err) {
        if (!isNoSuchFile(err)) throw err;
        handle = await this.#withDirectories(conn, dir, () => conn.open(temp, "wx", 0o600));
      }
      await this.#writeTemp(conn, { temp, handle }, name, source, size);
    } catch (err) {
      if (conn.lost) this.#orphanedTemps.add(temp);
      throw err;
    }
  }

  /**
   * Writes `source` to the open temp file, closes it, and renames it over `name` only when every
   * write and the close succeeded; on any failure removes the temp file (when still connected).
   * A big value (`size`) is also written through the temp file opened on the other channels.
   */
  async #writeTemp(
    conn: SftpRequests,
    opened: { temp: string; handle: Buffer },
    name: string,
    source: ByteSource,
    size: number | undefined,
  ): Promise<void> {
    const lanes: Lane[] = [{ conn, handle: opened.handle }];
    if (size !== undefined && this.#spreads(conn, size)) lanes.push(...(await openOnSiblings(conn, opened.temp, "r+")));
    const writer = new PipelinedWriter(lanes, this.#tuning);
    try {
      await writeSource(writer, source);
      await conn.rename(opened.temp, this.#path(name));
    } catch (err) {
      if (!conn.lost) {
        await writer.closeUnclosed();
        await conn.unlink(opened.temp).catch(() => {});
      }
      throw err;
    }
  }

  /**
   * Creates the missing directories `dir` needs below the base and runs `then`, all pipelined in
   * one round trip: the server handles a channel's requests in order, so MKDIR a, MKDIR a/b, …,
   * then OPEN (or RENAME) arrive as one burst. mkdir failures for existing directories are
   * expected and ignored; if `then` still finds no directory, the slow path tells why.
   */
  async #withDirectories<T>(conn: SftpRequests, dir: string, then: () => Promise<T>): Promise<T> {
    const made: Promise<unknown>[] = [];
    if (dir.startsWith(`${this.#root}/`)) {
      let path = this.#root;
      for (const part of dir.slice(this.#root.length + 1).split("/")) {
        path = `${path}/${part}`;
        made.push(conn.mkdir(path).catch(() => {}));
      }
    }
    const result = then();
    result.catch(() => {}); // awaited below, after the mkdirs
    await Promise.all(made);
    try {
      return await result;
    } catch (err) {
      if (!isNoSuchFile(err)) throw err;
      await mkdirs(conn, dir);
      return then();
    }
  }

  /** Unlinks the file of `name`. */
  protected async _delete(name: string): Promise<void> {
    await this.#run("delete", name, (conn) => conn.unlink(this.#path(name)), { notFoundOnRetryIsDone: true });
  }

  protected async _move(currentName: string, newName: string): Promise<void> {
    await this.#run(
      "move",
      currentName,
      async (conn) => {
        const from = this.#path(currentName);
        const to = this.#path(newName);
        try {
          await conn.rename(from, to);
        } catch (err) {
          if (!isNoSuchFile(err)) throw err;
          // Either the source is missing or the target's directory is: create it, try once more.
          await this.#withDirectories(conn, posix.dirname(to), () => conn.rename(from, to));
        }
      },
      { notFoundOnRetryIsDone: true },
    );
  }

  protected async *_list(name: string): AsyncIterable<ItemInfo> {
    const dir = this.#path(name);
    const entries = await this.#run("list", name, async (conn) => followSymlinks(conn, dir, await conn.readdir(dir)));
    const items: ItemInfo[] = [];
    for (const { filename, attrs } of entries) {
      if (!isValidName(filename)) continue; // not ours, or still uploading (*.tmp)
      items.push({
        name: filename,
        exists: true,
        size: attrs.size,
        directory: (attrs.mode & S_IFMT) === S_IFDIR,
        atime: attrs.atime ?? 0,
      });
    }
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    yield* items;
  }
}

/**
 * READDIR reports a symlink itself (as lstat); info and load follow it, as posixfs's listing does:
 * a symlink's entry gets its target's attributes, a dangling one is left out.
 */
async function followSymlinks(conn: SftpRequests, dir: string, entries: RemoteEntry[]): Promise<RemoteEntry[]> {
  if (!entries.some(({ attrs }) => (attrs.mode & S_IFMT) === S_IFLNK)) return entries;
  const followed = await Promise.all(
    entries.map(async (entry) => {
      if ((entry.attrs.mode & S_IFMT) !== S_IFLNK) return entry;
      try {
        return { filename: entry.filename, attrs: await conn.stat(`${dir}/${entry.filename}`) };
      } catch (err) {
        if (isNoSuchFile(err)) return undefined;
        throw err;
      }
    }),
  );
  return followed.filter((entry): entry is RemoteEntry => entry !== undefined);
}

/** `path` opened on the connection's other channels, where that succeeds (never throws). */
async function openOnSiblings(conn: SftpRequests, path: string, flags: "r" | "r+"): Promise<Lane[]> {
  const opened = await Promise.allSettled(conn.siblings().map(async (other) => ({ conn: other, handle: await other.open(path, flags) })));
  return opened.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
}

/** A stream's SFTP failures as core's errors (a lost connection → BackendConnectionError). */
async function* translateErrors(source: ByteSource, name: string): ByteSource {
  try {
    yield* source;
  } catch (err) {
    throw toBackendError(err, name, "load");
  }
}

/** `source`, and whether an error is one it threw. */
function failuresOf(source: ByteSource): { source: ByteSource; failed(err: unknown): boolean } {
  let thrown: unknown;
  let threw = false;
  async function* watched(): ByteSource {
    try {
      yield* source;
    } catch (err) {
      thrown = err;
      threw = true;
      throw err;
    }
  }
  return { source: watched(), failed: (err) => threw && err === thrown };
}

/**
 * `source` whose return() also runs `release`: closing a generator that never started (a stream
 * aborted or closed before its first chunk) skips its finally block.
 */
function releasedOnReturn(source: ByteSource, release: () => void): ByteSource {
  return {
    [Symbol.asyncIterator]() {
      const inner = source[Symbol.asyncIterator]();
      return {
        next: () => inner.next(),
        async return() {
          release();
          return (await inner.return?.()) ?? { done: true, value: undefined };
        },
      };
    },
  };
}

/** mkdir -p over SFTP: try the directory, create missing parents on demand. */
async function mkdirs(conn: SftpRequests, path: string): Promise<void> {
  try {
    await conn.mkdir(path);
  } catch (err) {
    if (isNoSuchFile(err)) {
      const parent = posix.dirname(path);
      if (parent === path || parent === "." || parent === "/") throw err;
      await mkdirs(conn, parent);
      try {
        await conn.mkdir(path);
      } catch (again) {
        if (!(await isDirectory(conn, path))) throw again;
      }
    } else if (!(await isDirectory(conn, path))) throw err;
  }
}

async function isDirectory(conn: SftpRequests, path: string): Promise<boolean> {
  try {
    return ((await conn.stat(path)).mode & S_IFMT) === S_IFDIR;
  } catch (err) {
    if (isConnectionLost(err)) throw err; // not an answer about the directory
    return false;
  }
}

/** Deletes a directory tree; a base directory that cannot be removed itself is left (like posixfs). */
async function removeTree(conn: SftpRequests, path: string, isBase: boolean): Promise<void> {
  // What another client removed meanwhile is as good as removed by us.
  const goneAlready = (err: unknown) => {
    if (!isNoSuchFile(err)) throw err;
  };
  const entries = await conn.readdir(path).catch((err: unknown): RemoteEntry[] => {
    goneAlready(err);
    return [];
  });
  await Promise.all(
    entries.map(({ filename, attrs }) =>
      ((attrs.mode & S_IFMT) === S_IFDIR ? removeTree(conn, `${path}/${filename}`, false) : conn.unlink(`${path}/${filename}`)).catch(goneAlready),
    ),
  );
  try {
    await conn.rmdir(path);
  } catch (err) {
    if (!isBase) throw err;
  }
}
