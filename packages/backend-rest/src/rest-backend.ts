import { createHash } from "node:crypto";
import {
  Backend,
  BackendError,
  BackendMustBeOpen,
  type BackendCapabilities,
  type BackendOptions,
  BackendURLInvalid,
  type ByteSource,
  type DefragOptions,
  InvalidArgument,
  type ItemInfo,
  type LoadOptions,
  ObjectNotFound,
  type QuotaInfo,
  type SizedByteSource,
  type StoreStreamOptions,
  supportedHashAlgorithms,
} from "@borgstore/core";
import {
  type CheckedDefragSources,
  abortableSource,
  bytesBetween,
  contentRangeTotal,
  firstBytes,
  planRangeRequest,
  rangeAnswerMismatch,
  resolveRange,
  sizedBytes,
  sizedSource,
  withRetry,
} from "@borgstore/core/backend";
import {
  CAUTIOUS,
  HEADERS,
  type ServerFeatures,
  decodeQuota,
  encodeDefragSources,
  errorOfStatus,
  errorPageMessage,
  parseServerFeatures,
} from "@borgstore/core/rest-protocol";
import { HttpTransport } from "./http-transport.js";
import { decodeListing, digestOfReply, errorBodyText, infoOfHead, shortened } from "./replies.js";
import { spool, withheldEnd } from "./spool.js";
import { StdioTransport } from "./stdio-transport.js";
import type { RestRequest, RestResponse, Transport } from "./transport.js";
import { type RestTarget, describeTarget, parseRestUrl, withoutCredentials } from "./url.js";

/** Options of `new RestBackend(...)`. */
export interface RestBackendOptions extends BackendOptions {
  /** `http(s)://[user:pass@]host[:port]/base/path`, `rest:///path` or `rest://[user@]host[:port]/path`. */
  url: string;
  /**
   * Most requests in flight at once over HTTP (default: URL query `?concurrency=N`, then
   * BORGSTORE_REST_CONCURRENCY, then 16), used only with a server that says it serves concurrent
   * requests (ours); any other server, such as the Python reference, gets one at a time. Stdio is always 1.
   */
  concurrency?: number;
  /**
   * Connect timeout and longest wait for response bytes over HTTP (a load stream left unread this long
   * while other requests wait for a connection is given up); longest silence of a stdio child, and its
   * exit wait at close (ms, default 30000).
   */
  timeout?: number;
  /** Reconnect attempts after a lost connection (default 3). */
  retries?: number;
  /** Pause before each reconnect attempt (ms, default 5000). */
  retryDelay?: number;
  /** Environment for credentials, BORGSTORE_RSH, … and the stdio child (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const DEFAULT_CONCURRENCY = 16;
/** Exact-range reads of a far slice before falling back to a suffix: each lost only to an overwrite. */
const SIZED_ATTEMPTS = 3;
/** A reply dropped because its value is not the one the range was computed for. */
const STALE = Symbol("stale");

/**
 * What to make of a load's reply: keep only its first `keep` bytes; the whole value's length when
 * the reply told it. `within`: the reply is the whole value although a range was asked for (a
 * server or proxy may ignore Range and answer 200): the slice these options name is cut from it.
 */
interface Slice {
  keep: number | undefined;
  total: number | undefined;
  within?: LoadOptions;
}

/** A reply's Content-Length, when it has a usable one. */
function contentLengthOf(res: RestResponse): number | undefined {
  const announced = Number(res.headers["content-length"]);
  return Number.isSafeInteger(announced) && announced >= 0 && res.headers["content-length"] !== undefined ? announced : undefined;
}

/** A reply's total, unless it contradicts the bytes (a server's error is no reason to fail the read). */
function totalOf(slice: Slice, size: number): number | undefined {
  return slice.total !== undefined && slice.total >= size ? slice.total : undefined;
}
const DEFAULT_TIMEOUT = 30_000;
/** Response header names as Node hands them over (lower case). */
const FEATURES = HEADERS.features.toLowerCase();
const CONTENT_HASH = HEADERS.contentHash.toLowerCase();

/** Options a call passes to the retry wrapper. */
interface CallOptions {
  /** delete/move: ObjectNotFound on a retry means the lost attempt already did it (docs/rest-protocol.md#reconnecting). */
  notFoundOnRetryIsDone?: boolean;
  /** false for requests whose body cannot be sent twice. */
  retry?: boolean;
  /** No reconnect once the caller gave up. */
  signal?: AbortSignal;
}

/**
 * A borgstore backend talking to a borgstore REST server (ours or the Python reference) over
 * HTTP(S), or over the stdin/stdout of `borgstore-server-rest --stdio` run locally or via ssh.
 */
export class RestBackend extends Backend {
  readonly capabilities: BackendCapabilities = {
    atime: true,
    quota: true,
    directories: true,
    streaming: true,
    serverSideHash: supportedHashAlgorithms(),
  };
  readonly #target: RestTarget;
  /** Most requests in flight at once (one until the server announces concurrent-requests). */
  readonly concurrency: number;
  readonly #timeout: number;
  readonly #retries: number;
  readonly #retryDelay: number;
  readonly #env: NodeJS.ProcessEnv;
  #transport: Transport | undefined;
  #features: ServerFeatures = CAUTIOUS;
  /** The server's last 206 carried a Content-Range total (ours does; the reference sends none). */
  #rangeTotals = false;

  constructor(options: RestBackendOptions) {
    super(options);
    this.#env = options.env ?? process.env;
    const target = parseRestUrl(options.url, this.#env);
    if (!target) throw new BackendURLInvalid(`Invalid REST URL: ${withoutCredentials(options.url)}`);
    this.#target = target;
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.#retries = options.retries ?? 3;
    this.#retryDelay = options.retryDelay ?? 5000;
    const configured =
      options.concurrency ??
      (target.kind === "http" ? target.params.get("concurrency") : undefined) ??
      this.#env.BORGSTORE_REST_CONCURRENCY ??
      DEFAULT_CONCURRENCY;
    const concurrency = Number(configured);
    if (!(Number.isSafeInteger(concurrency) && concurrency >= 1))
      throw new InvalidArgument(`concurrency must be a positive integer, but got: ${configured}`);
    this.concurrency = target.kind === "stdio" ? 1 : concurrency;
  }

  /**
   * Where requests go: an HTTP origin and path (with the credentials), or a stdio child's command.
   * A getter, so that inspecting or serialising the backend does not show the password.
   */
  get target(): RestTarget {
    return this.#target;
  }

  override get location(): string {
    return describeTarget(this.#target);
  }

  /** Requests in flight at once now: `concurrency` once the server said it copes, else 1. */
  get requestsInFlight(): number {
    return this.#features.concurrentRequests ? this.concurrency : 1;
  }

  #connect(concurrency = this.requestsInFlight): Transport {
    if (this.#target.kind === "http") return new HttpTransport(this.#target, { concurrency, timeout: this.#timeout });
    return new StdioTransport(this.#target.command, { timeout: this.#timeout, env: this.#env });
  }

  /** create/destroy run outside a session, on a connection (or child) of their own, never retried. */
  async #oneShot(req: RestRequest): Promise<void> {
    const transport = this.#connect(1);
    let failure: unknown;
    try {
      await (await this.#exchange(transport, req, "")).discard();
    } catch (err) {
      failure = err;
    }
    try {
      await transport.close();
    } catch (err) {
      failure ??= err;
    }
    if (failure) throw failure;
  }

  /** Sends `req`; a 2xx response is returned, any other status thrown as the matching error (docs/rest-protocol.md#errors-on-the-wire). */
  async #exchange(transport: Transport, req: RestRequest, name: string): Promise<RestResponse> {
    const res = await transport.request(req);
    if (res.status >= 200 && res.status < 300) return res;
    const body = req.method === "HEAD" ? "" : await errorBodyText(res.body);
    throw this.#statusError(res.status, body, name);
  }

  /** The error a non-2xx reply stands for (docs/rest-protocol.md#errors-on-the-wire). */
  #statusError(status: number, body: string, name: string): Error {
    return errorOfStatus(status, shortened(errorPageMessage(body)), { name, location: this.location });
  }

  /**
   * Runs `op` on the session; after a lost connection reconnects and reruns it up to `retries`
   * times, `retryDelay` apart, while the backend is open (docs/rest-protocol.md#reconnecting). Any other error propagates at once.
   */
  async #call<T>(op: (transport: Transport) => Promise<T>, options: CallOptions = {}): Promise<T | undefined> {
    let transport = this.#session();
    return withRetry(() => op(transport), {
      backend: "rest",
      retries: options.retry === false ? 0 : this.#retries,
      delay: this.#retryDelay,
      stillOpen: () => this.#transport !== undefined,
      reconnect: () => {
        transport = this.#reconnect(transport);
      },
      notFoundOnRetryIsDone: options.notFoundOnRetryIsDone,
      signal: options.signal,
    });
  }

  #session(): Transport {
    if (!this.#transport) throw new BackendMustBeOpen("backend must be open");
    return this.#transport;
  }

  /**
   * A fresh session, unless a concurrent caller already replaced the broken one, or the session
   * replaces lost connections itself (a pool: destroying it would fail every other request in flight).
   */
  #reconnect(broken: Transport): Transport {
    if (this.#transport !== broken || broken.replacesLostConnections) return this.#session();
    broken.destroy();
    this.#transport = this.#connect();
    return this.#transport;
  }

  async #simple(req: RestRequest, name: string, options?: CallOptions): Promise<void> {
    await this.#call(async (t) => (await this.#exchange(t, req, name)).discard(), options);
  }

  // ---- primitives -------------------------------------------------------------------------

  /** `POST /?cmd=create` on the server. */
  protected async _create(): Promise<void> {
    await this.#oneShot({ method: "POST", target: `/?${query({ cmd: "create" })}` });
  }

  /** `DELETE /?cmd=destroy` on the server. */
  protected async _destroy(): Promise<void> {
    await this.#oneShot({ method: "DELETE", target: `/?${query({ cmd: "destroy" })}` });
  }

  /**
   * Connects (spawns the stdio child) and asks for the root once, so a missing store or server
   * fails here with BackendDoesNotExist / a connection error, as every other backend's open does.
   * The answer's features header decides how many requests go in flight from now on.
   */
  protected async _open(): Promise<void> {
    const probe = this.#connect(1);
    let features: ServerFeatures;
    try {
      const res = await probe.request({ method: "HEAD", target: "/" });
      await res.discard();
      // 403: permissions without "l"/"r" on the root; the store exists (the server opened it first).
      if (res.status !== 200 && res.status !== 403) throw this.#statusError(res.status, "", "");
      features = parseServerFeatures(res.headers[FEATURES]);
    } catch (err) {
      probe.destroy();
      throw err;
    }
    this.#features = features;
    if (this.requestsInFlight === 1) {
      this.#transport = probe;
      return;
    }
    this.#transport = this.#connect();
    await probe.close();
  }

  /** Closes the connections (or the child process of a stdio URL). */
  protected async _close(): Promise<void> {
    const transport = this.#transport;
    this.#transport = undefined;
    this.#features = CAUTIOUS;
    await transport?.close();
  }

  /** `POST /NAME?cmd=mkdir`. */
  protected async _mkdir(name: string): Promise<void> {
    await this.#simple({ method: "POST", target: `/${name}?${query({ cmd: "mkdir" })}` }, name);
  }

  /** `DELETE /NAME?cmd=rmdir`. */
  protected async _rmdir(name: string): Promise<void> {
    await this.#simple({ method: "DELETE", target: `/${name}?${query({ cmd: "rmdir" })}` }, name);
  }

  protected async _info(name: string): Promise<ItemInfo> {
    const info = await this.#call(async (t) => {
      const res = await t.request({ method: "HEAD", target: `/${name}` });
      await res.discard();
      if (res.status === 404) return { name, exists: false, size: 0, directory: false, atime: 0 };
      if (res.status !== 200) throw this.#statusError(res.status, "", name);
      return infoOfHead(name, res.headers, `info of ${name}`);
    });
    return info as ItemInfo;
  }

  /** The length of the value of `name` (a HEAD), for an exact range; ObjectNotFound as its GET would answer. */
  async #sizeOf(name: string): Promise<number> {
    const info = await this._info(name);
    if (!info.exists || info.directory) throw new ObjectNotFound(name);
    return info.size;
  }

  /**
   * GETs the slice `options` asks for and hands the reply to `take` (inside the reconnecting
   * call). A short slice far from the end is an exact range whose start comes from a HEAD, only
   * while the server's 206 replies carry Content-Range totals: a reply whose total is not the
   * HEAD's size is dropped and asked again, at most SIZED_ATTEMPTS times, then as a suffix.
   */
  async #slice<T>(name: string, options: LoadOptions, take: (res: RestResponse, slice: Slice) => Promise<T>): Promise<T | undefined> {
    const { signal } = options;
    for (let attempt = 1; ; attempt++) {
      const sized = this.#rangeTotals && attempt <= SIZED_ATTEMPTS;
      const plan = await planRangeRequest(options, sized ? () => this.#sizeOf(name) : undefined);
      if (!plan) return undefined;
      const headers = plan.range ? { range: plan.range } : undefined;
      const req: RestRequest = { method: "GET", target: `/${name}`, headers, signal };
      const outcome = await this.#call(async (t) => {
        const res = await this.#exchange(t, req, name);
        const contentRange = res.headers["content-range"];
        const total = contentRangeTotal(contentRange);
        if (!plan.range || res.status === 200) {
          // Only a 200 carries the whole value; any other 2xx (a 206 to no Range, a 204) would hand out a part of it, or nothing.
          if (res.status !== 200) await this.#refuseReply(res, name, `answered ${res.status} to a load of the whole value`);
          return { value: await take(res, { keep: undefined, total: undefined, within: plan.range ? options : undefined }) };
        }
        // The Python server's 206 carries no Content-Range; a Content-Range that is there must be the range asked for.
        const mismatch = rangeAnswerMismatch(plan.range, res.status, contentRange, contentLengthOf(res), true);
        if (mismatch) await this.#refuseReply(res, name, mismatch);
        this.#rangeTotals = total !== undefined;
        if (plan.expectTotal !== undefined && total !== plan.expectTotal) {
          await res.discard();
          return STALE;
        }
        return { value: await take(res, { keep: plan.keep, total }) };
      }, { signal });
      if (outcome !== STALE) return (outcome as { value: T }).value;
    }
  }

  /** Drops a load's reply that is not what was asked for: a BackendError, never its bytes. */
  async #refuseReply(res: RestResponse, name: string, what: string): Promise<never> {
    await res.discard();
    throw new BackendError(`load of ${name}: the server ${what}`);
  }

  protected async _load(name: string, options: LoadOptions): Promise<Uint8Array> {
    const value = await this.#slice(name, options, async (res, { keep, within }) => {
      const bytes = await res.bytes();
      if (within) {
        const { start, end } = resolveRange(within, bytes.byteLength);
        return bytes.subarray(start, Math.max(start, end));
      }
      return keep !== undefined && bytes.byteLength > keep ? bytes.subarray(0, keep) : bytes;
    });
    return value ?? new Uint8Array(0);
  }

  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const got = await this.#slice(name, options, async (res, slice) => ({ res, slice }));
    if (got === undefined) return sizedBytes(new Uint8Array(0));
    const { res, slice } = got;
    // The size of this very reply: the name may hold a value of another size by now.
    const announced = contentLengthOf(res);
    if (slice.within) {
      if (announced === undefined) {
        const bytes = await res.bytes();
        const { start, end } = resolveRange(slice.within, bytes.byteLength);
        return sizedBytes(bytes.subarray(start, Math.max(start, end)), bytes.byteLength);
      }
      const { start, end } = resolveRange(slice.within, announced);
      return sizedSource(bytesBetween(res.body, start, end), Math.max(0, end - start), announced);
    }
    if (announced === undefined) {
      const bytes = await res.bytes();
      const kept = slice.keep === undefined ? bytes : bytes.subarray(0, slice.keep);
      return sizedBytes(kept, totalOf(slice, kept.byteLength));
    }
    if (slice.keep === undefined) return sizedSource(res.body, announced, totalOf(slice, announced));
    const size = Math.min(slice.keep, announced);
    return sizedSource(firstBytes(res.body, slice.keep), size, totalOf(slice, size));
  }

  protected async _store(name: string, value: Uint8Array): Promise<void> {
    const sha256 = createHash("sha256").update(value).digest("hex");
    await this.#simple({ method: "POST", target: `/${name}`, headers: { [CONTENT_HASH]: sha256 }, body: value }, name);
  }

  protected override async _storeStream(name: string, source: ByteSource, options: StoreStreamOptions = {}): Promise<void> {
    // A body cut short (the source failed its size check, or broke) is stored truncated by a
    // server that trusts whatever arrived (the reference): such a server gets no body without its hash.
    const mightStoreAPart = !(options.sha256 || this.#features.verifiedUploads);
    if (options.size === undefined || mightStoreAPart) {
      // Unknown length or no hash to send: read it all first (memory, or a temp file when
      // large), then send it with Content-Length and hash, re-sendable after a lost connection.
      const { signal } = options;
      const spooled = await spool(source);
      try {
        await this.#call(async (t) => {
          const content = spooled.content();
          const upload = content instanceof Uint8Array ? { body: content } : uploadBody(content, spooled.length, signal);
          const headers = { [CONTENT_HASH]: spooled.sha256 };
          const req: RestRequest = { method: "POST", target: `/${name}`, headers, ...upload };
          await (await this.#exchange(t, req, name)).discard();
        }, { signal });
      } finally {
        await spooled.dispose();
      }
      return;
    }
    // Known length: stream it through. A one-shot source cannot be sent twice, so no retry.
    let sourceError: unknown;
    const tracked = async function* () {
      try {
        yield* source;
      } catch (err) {
        sourceError = err;
        throw err;
      }
    };
    const headers: Record<string, string> = {};
    if (options.sha256) headers[CONTENT_HASH] = options.sha256;
    const req: RestRequest = { method: "POST", target: `/${name}`, headers, ...uploadBody(tracked(), options.size, options.signal) };
    const transport = this.#session();
    try {
      await (await this.#exchange(transport, req, name)).discard();
    } catch (err) {
      // A stdio child left waiting for the rest of the body is out of step: replace it now
      // rather than on the next call after a retry delay.
      if (transport instanceof StdioTransport && this.#transport === transport) this.#reconnect(transport);
      throw sourceError ?? err;
    }
    if (sourceError) throw sourceError;
  }

  /** `DELETE /NAME`. */
  protected async _delete(name: string): Promise<void> {
    await this.#simple({ method: "DELETE", target: `/${name}` }, name, { notFoundOnRetryIsDone: true });
  }

  protected async _move(currentName: string, newName: string): Promise<void> {
    const target = `/?${query({ cmd: "move", current: currentName, new: newName })}`;
    await this.#simple({ method: "POST", target }, currentName, { notFoundOnRetryIsDone: true });
  }

  protected async *_list(name: string): AsyncIterable<ItemInfo> {
    const items = await this.#call(async (t) => {
      const res = await this.#exchange(t, { method: "GET", target: name ? `/${name}/` : "/" }, name);
      return decodeListing(await res.text(), `list of ${name || "the root"}`);
    });
    yield* items as ItemInfo[];
  }

  protected override async _hash(name: string, algorithm: string): Promise<string> {
    const target = `/${name}?${query({ cmd: "hash", algorithm })}`;
    const text = await this.#call(async (t) => (await this.#exchange(t, { method: "POST", target }, name)).text());
    return digestOfReply(text as string, algorithm, `${algorithm} hash of ${name}`);
  }

  /** `POST /?cmd=quota`: the server's limit and usage. */
  protected override async _quota(): Promise<QuotaInfo> {
    const quota = await this.#call(async (t) =>
      decodeQuota(await (await this.#exchange(t, { method: "POST", target: `/?${query({ cmd: "quota" })}` }, "")).text(), "quota"),
    );
    return quota as QuotaInfo;
  }

  /**
   * Server-side defrag: one request, no bytes travel. Core's copying defrag instead when
   * client-side permissions need its checks of each range, or when a source failed core's checks
   * (it reads the sources before that one first, as the reference does, and then raises).
   */
  protected override async _defrag(sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
    if (this.permissions || sources.problem !== undefined) return super._defrag(sources, options);
    const { target, algorithm, namespace, levels = 0 } = options;
    const params: Record<string, string> = { cmd: "defrag" };
    if (target) params.target = target;
    if (algorithm) params.algorithm = algorithm;
    if (namespace) params.namespace = namespace;
    if (levels) params.levels = String(levels);
    const body = Buffer.from(encodeDefragSources(sources.readable));
    const name = await this.#call(async (t) => (await this.#exchange(t, { method: "POST", target: `/?${query(params)}`, body }, target ?? "")).text());
    return (name as string).trim();
  }
}

/**
 * An upload's body, sent one chunk late (withheldEnd): a source failing at its end leaves the body
 * short of its Content-Length, and the server never stores it. With a signal, the request is cut
 * off only while the body is still being sent (also when the connection stalls); once the last
 * byte is out the server may have stored the value, so its answer is awaited instead.
 */
function uploadBody(source: ByteSource, length: number, signal: AbortSignal | undefined): Pick<RestRequest, "body" | "signal"> {
  if (!signal) return { body: { length, source: withheldEnd(source) } };
  const cut = new AbortController();
  let sent = false;
  const onAbort = () => {
    if (!sent) cut.abort(signal.reason);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  async function* tracked(): ByteSource {
    try {
      yield* withheldEnd(abortableSource(source, signal));
      sent = true;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
  return { body: { length, source: tracked() }, signal: cut.signal };
}

/** Form-encoded query (`/` → %2F, blank → +), as the reference client sends it. */
function query(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}
