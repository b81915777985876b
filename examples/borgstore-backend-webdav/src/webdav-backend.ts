import {
  Backend,
  BackendAlreadyExists,
  BackendConnectionError,
  type BackendCapabilities,
  BackendDoesNotExist,
  BackendError,
  type BackendOptions,
  type ByteSource,
  type ItemInfo,
  type LoadOptions,
  ObjectNotFound,
  type OperationOptions,
  type SizedByteSource,
  type StoreStreamOptions,
  isValidName,
} from "@borgstore/core";
import { basename, dirname, planRangeRequest, resolveRange, sizedBytes, sizedSource, tempName } from "@borgstore/core/backend";
import { hrefPath } from "./multistatus.js";
import type { WebdavLocation } from "./url.js";
import { WebdavClient } from "./webdav-client.js";

export interface WebdavBackendOptions extends BackendOptions, WebdavLocation {}

/** A GET's answer and how to cut the asked range out of its body, when the server could not. */
interface Fetched {
  res: Response;
  cut?: (body: Uint8Array) => Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * A borgstore backend on a WebDAV collection (RFC 4918): items are resources, namespaces are
 * collections. A value is PUT under a temporary name and then MOVEd over its name, so a name
 * never shows a partly written value.
 */
export class WebdavBackend extends Backend {
  readonly capabilities: BackendCapabilities = {
    atime: false,
    quota: false,
    directories: true,
    streaming: true,
    serverSideHash: [],
  };
  readonly #client: WebdavClient;

  constructor(options: WebdavBackendOptions) {
    super(options);
    this.#client = new WebdavClient(options);
  }

  override get location(): string {
    return this.#client.baseUrl;
  }

  // ---- lifecycle ------------------------------------------------------------------------

  protected async _create(): Promise<void> {
    const entries = await this.#client.propfind("", 1);
    if (entries === undefined) {
      await this.#client.request({ method: "MKCOL", path: "" });
      return;
    }
    if (entries.length > 1) throw new BackendAlreadyExists(`WebDAV collection exists and isn't empty: ${this.location}`);
  }

  protected async _destroy(): Promise<void> {
    if ((await this.#client.propfind("", 0)) === undefined)
      throw new BackendDoesNotExist(`WebDAV collection does not exist: ${this.location}`);
    await this.#client.request({ method: "DELETE", path: "" });
  }

  protected async _open(): Promise<void> {
    const self = (await this.#client.propfind("", 0))?.[0];
    if (!self?.collection) throw new BackendDoesNotExist(`WebDAV collection does not exist: ${this.location}`);
  }

  protected async _close(): Promise<void> {}

  // ---- namespaces -----------------------------------------------------------------------

  /** Creates the collection and any missing parents (as the reference's mkdir does). */
  protected async _mkdir(name: string, options: OperationOptions = {}): Promise<void> {
    const parts = name.split("/");
    for (let i = 1; i <= parts.length; i++) {
      // 405: it exists already. Servers differ in how they say so; a file in the way fails at the next level.
      await this.#client.request({ method: "MKCOL", path: `${encodePath(parts.slice(0, i).join("/"))}/`, signal: options.signal }, [405]);
    }
  }

  protected async _rmdir(name: string, options: OperationOptions = {}): Promise<void> {
    const entries = await this.#client.propfind(`${encodePath(name)}/`, 1, options.signal);
    if (entries === undefined) throw new ObjectNotFound(name);
    if (!entries[0]?.collection) throw new BackendError(`not a directory: ${name}`);
    // DELETE of a collection removes everything in it (RFC 4918 §9.6.1): refuse unless it is empty.
    // Not atomic: an item stored between this look and the DELETE goes with the collection.
    if (entries.length > 1) throw new BackendError(`directory not empty: ${name}`);
    await this.#client.request({ method: "DELETE", path: `${encodePath(name)}/`, signal: options.signal });
  }

  protected async *_list(name: string, options: OperationOptions = {}): AsyncIterable<ItemInfo> {
    const path = name === "" ? "" : `${encodePath(name)}/`;
    const entries = await this.#client.propfind(path, 1, options.signal);
    const self = hrefPath(new URL(this.#client.url(path)).pathname);
    if (entries === undefined || !entries.find((e) => e.path === self)?.collection) throw new ObjectNotFound(name);
    const items: ItemInfo[] = [];
    for (const entry of entries) {
      if (entry.path === self) continue;
      const child = basename(entry.path);
      // Temporary uploads and anything else that is no borgstore name stay invisible.
      if (!isValidName(child)) continue;
      items.push({ name: child, exists: true, size: entry.size, directory: entry.collection, atime: 0 });
    }
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    yield* items;
  }

  // ---- items ----------------------------------------------------------------------------

  protected async _info(name: string, options: OperationOptions = {}): Promise<ItemInfo> {
    const entry = (await this.#client.propfind(encodePath(name), 0, options.signal))?.[0];
    const base = basename(name);
    if (!entry) return { name: base, exists: false, size: 0, directory: false, atime: 0 };
    return { name: base, exists: true, size: entry.size, directory: entry.collection, atime: 0 };
  }

  protected async _load(name: string, options: LoadOptions): Promise<Uint8Array> {
    const fetched = await this.#fetch(name, options);
    if (fetched === undefined) return EMPTY;
    const body = await bodyBytes(fetched.res, name);
    return fetched.cut ? fetched.cut(body) : body;
  }

  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const fetched = await this.#fetch(name, options);
    if (fetched === undefined) return sizedBytes(EMPTY);
    const { res, cut } = fetched;
    const length = Number(res.headers.get("content-length") ?? Number.NaN);
    // The size comes from this very response (never from a second look-up by name).
    if (!cut && res.body && Number.isSafeInteger(length) && length >= 0) return sizedSource(res.body, length);
    const body = await bodyBytes(res, name);
    return sizedBytes(cut ? cut(body) : body);
  }

  /**
   * GETs the asked range with an HTTP Range header; undefined when the range is empty. A server
   * that ignores Range answers 200 with the whole value, which is cut here.
   */
  async #fetch(name: string, options: LoadOptions): Promise<Fetched | undefined> {
    const { size, signal } = options;
    if (size === 0) {
      if (!(await this._info(name, { signal })).exists) throw new ObjectNotFound(name);
      return undefined;
    }
    // Without a length to plan from, a slice of a tail is the whole tail (the server clamps a
    // suffix to the value), of which the first `keep` bytes are the slice.
    const { range, keep } = (await planRangeRequest(options)) ?? {};
    const res = await this.#client.request(
      { method: "GET", path: encodePath(name), headers: range ? { range } : {}, signal },
      [404, 416],
    );
    if (res.status === 404 || res.status === 416) {
      await res.body?.cancel().catch(() => {});
      if (res.status === 404) throw new ObjectNotFound(name);
      return undefined; // 416: the value exists, and the range starts at or after its end
    }
    if (res.status === 200 && range) return { res, cut: (body) => cutRange(body, resolveRange(options, body.byteLength)) };
    if (keep !== undefined) return { res, cut: (body) => body.subarray(0, keep) };
    return { res };
  }

  protected async _store(name: string, value: Uint8Array, options: OperationOptions = {}): Promise<void> {
    await this.#storeVia(name, value, options.signal);
  }

  protected override async _storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    // Core's size and sha256 checks throw from inside the source: that error, not fetch's, is the one to report.
    let sourceError: unknown;
    async function* remembered(): ByteSource {
      try {
        // An empty chunk would go out as chunked encoding's end marker and cut the upload short.
        for await (const chunk of source) if (chunk.byteLength > 0) yield chunk;
      } catch (err) {
        sourceError = err;
        throw err;
      }
    }
    try {
      // Sent chunked: fetch computes no Content-Length for a stream (a caller's `size` is checked by core).
      await this.#storeVia(name, remembered(), options.signal);
    } catch (err) {
      throw sourceError ?? err;
    }
  }

  /**
   * PUTs the value under a temporary name in the store's top collection (which exists while the
   * backend is open, so an upload never fails for a missing parent and need not be sent twice),
   * then MOVEs it over `name`. The temporary name is no valid borgstore name, so list never shows it.
   */
  async #storeVia(
    name: string,
    body: Uint8Array | AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    // A PUT replaces whatever has the name: the kit's long temp name, so two writers never draw the same.
    const temp = tempName(16);
    try {
      const put = await this.#client.request({ method: "PUT", path: temp, body, signal });
      await put.body?.cancel().catch(() => {});
      await this.#moveOver(temp, name, temp);
    } catch (err) {
      await this.#client.request({ method: "DELETE", path: temp }, [404]).then(
        (res) => res.body?.cancel(),
        () => {},
      );
      throw err;
    }
  }

  protected async _delete(name: string, options: OperationOptions = {}): Promise<void> {
    // DELETE would remove a whole collection: an item delete must not take a namespace with it.
    const info = await this._info(name, options);
    if (!info.exists) throw new ObjectNotFound(name);
    if (info.directory) throw new BackendError(`is a directory: ${name}`);
    const res = await this.#client.request({ method: "DELETE", path: encodePath(name) }, [404]);
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) throw new ObjectNotFound(name);
  }

  protected async _move(currentName: string, newName: string, options: OperationOptions = {}): Promise<void> {
    // Some servers (golang.org/x/net/webdav, i.e. rclone serve webdav) delete the target of
    // "Overwrite: T" before they find the source missing: look first, so a move of a missing
    // name keeps the target (a delete racing in between can still lose it there).
    const info = await this._info(currentName, options);
    if (!info.exists || info.directory) throw new ObjectNotFound(currentName);
    await this.#moveOver(encodePath(currentName), newName, currentName);
  }

  /**
   * MOVEs `fromPath` to `to`, replacing an object there but never a collection: RFC 4918 has
   * "Overwrite: T" delete whatever is at the target first, a whole namespace included. So the
   * first try says "Overwrite: F"; only if an object is in the way (412) does a second replace it.
   * A missing parent collection of the target is 409 Conflict by the RFC (rclone answers 403):
   * then the parents are created and the MOVE is sent once more.
   */
  async #moveOver(fromPath: string, to: string, from: string): Promise<void> {
    const move = (overwrite: "T" | "F") =>
      this.#client.request(
        { method: "MOVE", path: fromPath, headers: { destination: this.#client.url(encodePath(to)), overwrite } },
        [403, 404, 409, 412],
      );
    let res = await move("F");
    if ((res.status === 409 || res.status === 403) && to.includes("/")) {
      await res.body?.cancel().catch(() => {});
      await this._mkdir(dirname(to));
      res = await move("F");
    }
    if (res.status === 412) {
      await res.body?.cancel().catch(() => {});
      if ((await this._info(to)).directory) throw new BackendError(`is a directory: ${to}`);
      res = await move("T");
    }
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) throw new ObjectNotFound(from);
    if (res.status >= 400) throw new BackendError(`WebDAV MOVE of ${from} to ${to}: HTTP ${res.status}`);
  }
}

/** A response body whole; a connection lost on the way is BACKEND_CONNECTION_ERROR. */
async function bodyBytes(res: Response, name: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw new BackendConnectionError(`WebDAV GET of ${name} ended early: ${(err as Error).message}`, { cause: err });
  }
}

/** A borgstore name as a URL path below the base collection. */
function encodePath(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

function cutRange(body: Uint8Array, range: { start: number; end: number }): Uint8Array {
  return body.subarray(range.start, Math.max(range.start, range.end));
}
