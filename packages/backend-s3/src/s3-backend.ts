import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import {
  Backend,
  type BackendCapabilities,
  BackendAlreadyExists,
  type BackendOptions,
  BackendDoesNotExist,
  BackendError,
  type BufferLoadOptions,
  type ByteSource,
  type ItemInfo,
  type LoadOptions,
  ObjectNotFound,
  type SizedByteSource,
  collectBytes,
} from "@borgstore/core";
import { checkRangeAnswer, firstBytes, planRangeRequest, readResponseBody, sizedBytes, sizedSource } from "@borgstore/core/backend";
import { type S3ConnectionOptions, connectionSettings, createS3Client } from "./client.js";
import { isInvalidRange, isNotFound, isPreconditionFailed, toBackendError } from "./errors.js";
import { DELIMITER, KeyLayout } from "./layout.js";
import { ObjectClient } from "./object-client.js";
import { parseS3Url, redact } from "./url.js";

/** Options of `new S3Backend(...)`: the bucket and key prefix plus how to connect. */
export interface S3BackendOptions extends BackendOptions, S3ConnectionOptions {
  /** Name of the bucket that holds the store. */
  bucket: string;
  /** Key prefix of the store inside the bucket ("borg/repo1"); a trailing "/" is added. */
  path: string;
  /** Values larger than this go up as a multipart upload (parallel parts). Default 16 MiB. */
  multipartThreshold?: number;
  /** Part size of multipart uploads (≥ 5 MiB). Default 8 MiB. */
  partSize?: number;
  /** Parts of one upload in flight at once. Default 4. */
  partsInFlight?: number;
  /** Use this client instead of creating one (the backend then never destroys it). */
  client?: S3Client;
}

const MiB = 1024 * 1024;
const LIST_PAGE = 1000;

/** What a ranged GET should ask for, and how much of the answer to keep. */
interface GetPlan {
  range?: string;
  /** Keep only the first `keep` bytes of the body (suffix fetch of a tail load with a size). */
  keep?: number;
  /** The ETag the range was computed for: another version of the object answers 412. */
  ifMatch?: string;
}

/** A GET's answer to a load: the body, its Content-Length, and how much of it to keep. */
interface LoadResponse {
  body: Readable;
  length: number | undefined;
  keep: number | undefined;
}

/** The answer, or a BackendError (its body destroyed) when it is not the range asked for. */
function checkedAnswer(what: string, range: string | undefined, status: number | undefined, contentRange: string | undefined, answer: LoadResponse): LoadResponse {
  try {
    checkRangeAnswer(what, range, status, contentRange, answer.length);
  } catch (err) {
    // undici's body reports its destruction as an 'error': nobody listens to it here.
    answer.body.on("error", () => undefined).destroy();
    throw err;
  }
  return answer;
}

/**
 * Plans a load again this many times when the object was replaced between HEAD and GET, after a
 * growing random pause (about a second in all) so that a read finds a moment between two stores
 * of a burst: with one-part stores as quick as loads, 3 tries without pauses were not enough.
 */
const REPLANS = 10;

/**
 * borgstore on S3-compatible object storage (AWS, Backblaze B2, Ceph radosgw, MinIO, …), with the
 * reference's object layout (see layout.ts).
 */
export class S3Backend extends Backend {
  readonly capabilities: BackendCapabilities = {
    atime: false,
    quota: false,
    directories: true,
    streaming: true,
    serverSideHash: [],
  };

  /** Name of the bucket that holds the store. */
  readonly bucket: string;
  readonly #layout: KeyLayout;
  readonly #connection: S3ConnectionOptions;
  readonly #ownClient: boolean;
  #client: S3Client | undefined;
  #objectClient: ObjectClient | undefined;
  readonly #multipartThreshold: number;
  readonly #partSize: number;
  readonly #partsInFlight: number;

  constructor(options: S3BackendOptions) {
    super(options);
    if (!options.bucket) throw new BackendError("S3: a bucket is required");
    if (!options.path || options.path.replace(/\/+$/, "") === "")
      throw new BackendError("S3: a non-empty path inside the bucket is required");
    this.bucket = options.bucket;
    this.#layout = new KeyLayout(`${options.path.replace(/\/+$/, "")}/`);
    this.#connection = options;
    this.#client = options.client;
    this.#ownClient = options.client === undefined;
    this.#partSize = Math.max(5 * MiB, options.partSize ?? 8 * MiB);
    this.#multipartThreshold = options.multipartThreshold ?? 16 * MiB;
    this.#partsInFlight = options.partsInFlight ?? 4;
  }

  /** A backend for an `s3:`/`b2:` URL (docs/backend-urls.md#s3-and-b2-s3-backblaze-b2); `options` add or override connection settings. */
  static fromUrl(url: string, options: Partial<S3BackendOptions> = {}): S3Backend {
    const loc = parseS3Url(url);
    const fromUrl: S3BackendOptions = { bucket: loc.bucket, path: loc.basePath, flavour: loc.flavour };
    if (loc.endpoint) fromUrl.endpoint = loc.endpoint;
    if (loc.profile) fromUrl.profile = loc.profile;
    if (loc.accessKeyId !== undefined && loc.secretAccessKey !== undefined)
      fromUrl.credentials = { accessKeyId: loc.accessKeyId, secretAccessKey: loc.secretAccessKey };
    return new S3Backend({ ...fromUrl, ...options });
  }

  override get location(): string {
    return redact(`${this.#connection.flavour ?? "s3"}:${this.#connection.endpoint ?? ""}/${this.bucket}/${this.#layout.basePath}`);
  }

  /** Key prefix of the store inside the bucket, ending in "/". */
  get basePath(): string {
    return this.#layout.basePath;
  }

  get #s3(): S3Client {
    this.#client ??= createS3Client(this.#connection);
    return this.#client;
  }

  /**
   * The lean path of the per-item requests (GET, HEAD, PUT, DELETE), where the service is
   * addressed path-style at a configured endpoint (radosgw, MinIO, B2, R2, …); undefined on AWS
   * itself, whose virtual-hosted addressing and region redirects only the SDK knows, and with
   * retryMode "adaptive", whose client-side rate limiting lives in the SDK's retry strategy.
   */
  get #objects(): ObjectClient | undefined {
    const { endpoint, forcePathStyle, retryMode } = this.#connection;
    if (endpoint === undefined || forcePathStyle === false || retryMode === "adaptive") return undefined;
    this.#objectClient ??= ObjectClient.of(this.#s3, { endpoint, bucket: this.bucket, maxAttempts: connectionSettings(this.#connection).maxAttempts });
    return this.#objectClient;
  }

  /** HeadObject of `key`: its length and ETag. Throws the SDK's (or an SDK-shaped) error. */
  async #head(key: string): Promise<{ length: number; etag: string | undefined }> {
    const objects = this.#objects;
    if (objects) return objects.head(key);
    const head = await this.#s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    return { length: head.ContentLength ?? 0, etag: head.ETag };
  }

  /** DeleteObject of `key` (no error when it is missing). */
  async #deleteObject(key: string, what: string): Promise<void> {
    const objects = this.#objects;
    try {
      if (objects) await objects.delete(key);
      else await this.#s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw toBackendError(err, what, { bucket: this.bucket });
    }
  }

  #releaseClient(): void {
    this.#objectClient = undefined;
    if (this.#ownClient && this.#client) {
      this.#client.destroy();
      this.#client = undefined;
    }
  }

  async #send<T = unknown>(command: object, what: string, name?: string): Promise<T> {
    try {
      return (await this.#s3.send(command as never)) as T;
    } catch (err) {
      throw toBackendError(err, what, name === undefined ? { bucket: this.bucket } : { bucket: this.bucket, name });
    }
  }

  async #listPage(prefix: string, options: { delimiter?: boolean; maxKeys?: number; token?: string }, what: string) {
    return this.#send<ListObjectsV2CommandOutput>(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        Delimiter: options.delimiter === false ? undefined : DELIMITER,
        MaxKeys: options.maxKeys ?? LIST_PAGE,
        ContinuationToken: options.token,
      }),
      what,
    );
  }

  /** True when any key (object, marker or deeper item) lives under `prefix`. */
  async #anyKeyUnder(prefix: string, what: string): Promise<boolean> {
    const page = await this.#listPage(prefix, { maxKeys: 1 }, what);
    return (page.Contents?.length ?? 0) + (page.CommonPrefixes?.length ?? 0) > 0;
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** Writes the base directory's marker object; BackendAlreadyExists if any key exists under the base path. */
  protected async _create(): Promise<void> {
    try {
      if (await this.#anyKeyUnder(this.#layout.basePath, "create"))
        throw new BackendAlreadyExists(`Backend already exists: ${this.location}`);
      await this.#putMarker("", "create");
    } finally {
      this.#releaseClient();
    }
  }

  /** Deletes every key under the base path and aborts its pending multipart uploads; BackendDoesNotExist if none. */
  protected async _destroy(): Promise<void> {
    try {
      const base = this.#layout.basePath;
      if (!(await this.#anyKeyUnder(base, "destroy"))) throw new BackendDoesNotExist(`Backend does not exist: ${this.location}`);
      await this.#abortUploadsUnder(base);
      // Deleting changes what a continuation token refers to, so start each round afresh.
      let previousFirst: string | undefined;
      for (;;) {
        const page = await this.#listPage(base, { delimiter: false }, "destroy");
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key as string }));
        if (keys.length === 0) break;
        if (keys[0]?.Key === previousFirst) throw new BackendError(`S3 error (destroy): ${previousFirst} was not deleted`);
        previousFirst = keys[0]?.Key;
        const result = await this.#send<{ Errors?: { Key?: string; Code?: string; Message?: string }[] }>(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }),
          "destroy",
        );
        const failed = result.Errors?.[0];
        if (failed) throw new BackendError(`S3 error (destroy): could not delete ${failed.Key}: ${failed.Code} ${failed.Message ?? ""}`);
      }
    } finally {
      this.#releaseClient();
    }
  }

  /** BackendDoesNotExist unless some key exists under the base path. */
  protected async _open(): Promise<void> {
    if (!(await this.#anyKeyUnder(this.#layout.basePath, "open"))) {
      this.#releaseClient();
      throw new BackendDoesNotExist(`Backend does not exist: ${this.location}`);
    }
  }

  /** Releases the S3 client. */
  protected async _close(): Promise<void> {
    this.#releaseClient();
  }

  // ---- directories ------------------------------------------------------------------------

  async #putMarker(name: string, what: string): Promise<void> {
    await this.#send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.#layout.markerKey(name), Body: new Uint8Array(0), ContentLength: 0 }),
      what,
    );
  }

  /** Writes the directory marker object of `name`. */
  protected async _mkdir(name: string): Promise<void> {
    await this.#putMarker(name, `mkdir ${name}`);
  }

  /** Deletes the directory marker of `name` if nothing else is under it. */
  protected async _rmdir(name: string): Promise<void> {
    const prefix = this.#layout.dirPrefix(name);
    const page = await this.#listPage(prefix, { maxKeys: 2 }, `rmdir ${name}`);
    const marker = this.#layout.markerKey(name);
    const keys = (page.Contents ?? []).map((o) => o.Key);
    const others = keys.filter((k) => k !== marker).length + (page.CommonPrefixes?.length ?? 0);
    if (keys.length === 0 && others === 0) throw new ObjectNotFound(name);
    if (others > 0) throw new BackendError(`Directory not empty: ${name}`);
    await this.#send(new DeleteObjectCommand({ Bucket: this.bucket, Key: marker }), `rmdir ${name}`);
  }

  // ---- items ------------------------------------------------------------------------------

  protected async _info(name: string): Promise<ItemInfo> {
    if (name !== "") {
      try {
        const head = await this.#head(this.#layout.objectKey(name));
        return { name, exists: true, directory: false, size: head.length, atime: 0 };
      } catch (err) {
        if (!isNotFound(err)) throw toBackendError(err, `info ${name}`, { bucket: this.bucket });
      }
    }
    // A directory is a marker or any key below its prefix (stores into nested dirs create no markers).
    const isDir = await this.#anyKeyUnder(this.#layout.dirPrefix(name), `info ${name}`);
    return { name, exists: isDir, directory: isDir, size: 0, atime: 0 };
  }

  /**
   * Plans the GET for a load: whole object, absolute range, or a suffix range for tails.
   * Undefined: nothing to fetch (size 0 of an object that exists, or an empty range).
   */
  async #plan(name: string, options: LoadOptions): Promise<GetPlan | undefined> {
    if (options.size === 0) {
      const info = await this._info(name);
      if (!info.exists || info.directory) throw new ObjectNotFound(name);
      return undefined;
    }
    // A short piece far from the end: learn the length first, then fetch exactly that piece of
    // that version (If-Match), as the name may be overwritten with a value of another size meanwhile.
    let ifMatch: string | undefined;
    const request = await planRangeRequest(options, async () => {
      let head: { length: number; etag: string | undefined };
      try {
        head = await this.#head(this.#layout.objectKey(name));
      } catch (err) {
        throw toBackendError(err, `load ${name}`, { bucket: this.bucket, name });
      }
      ifMatch = head.etag;
      return head.length;
    });
    return request && { range: request.range, keep: request.keep, ifMatch };
  }

  /**
   * The (ranged) GET of a load; ObjectNotFound is thrown here, before any byte is read. Its length
   * is the same response's Content-Length. Undefined: nothing to read (empty value or range).
   */
  async #get(name: string, options: LoadOptions): Promise<LoadResponse | undefined> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await sleep(Math.random() * 2 ** attempt);
      const plan = await this.#plan(name, options);
      if (!plan) return undefined;
      const key = this.#layout.objectKey(name);
      const objects = this.#objects;
      try {
        if (objects) {
          const res = await objects.get(key, { range: plan.range, ifMatch: plan.ifMatch, signal: options.signal });
          return checkedAnswer(`S3 load ${name}`, plan.range, res.status, res.contentRange, { body: res.body, length: res.length, keep: plan.keep });
        }
        const res = await this.#s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: plan.range, IfMatch: plan.ifMatch }), {
          abortSignal: options.signal,
        });
        const answer = { body: res.Body as Readable, length: res.ContentLength, keep: plan.keep };
        return checkedAnswer(`S3 load ${name}`, plan.range, res.$metadata.httpStatusCode, res.ContentRange, answer);
      } catch (err) {
        // 416: the range starts at or past the end (or the object is empty): the object exists.
        if (plan.range && isInvalidRange(err)) return undefined;
        if (plan.ifMatch && isPreconditionFailed(err) && attempt < REPLANS) continue;
        throw toBackendError(err, `load ${name}`, { bucket: this.bucket, name });
      }
    }
  }

  /** The body of a load as a sized source (the same response's Content-Length). */
  async #openBody(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const res = await this.#get(name, options);
    if (!res) return sizedBytes(new Uint8Array(0));
    const { body, length, keep } = res;
    if (length === undefined) {
      const bytes = await collectBytes(body);
      return sizedBytes(keep === undefined ? bytes : bytes.subarray(0, keep));
    }
    if (keep === undefined) return sizedSource(body, length);
    return sizedSource(firstBytes(body, keep), Math.min(keep, length));
  }

  protected async _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    try {
      const res = await this.#get(name, options);
      if (!res) return new Uint8Array(0);
      const bytes = await readResponseBody(res.body, {
        length: res.length,
        into: res.keep === undefined ? options.into : undefined,
        signal: options.signal,
        what: `S3 load ${name}`,
      });
      return res.keep === undefined ? bytes : bytes.subarray(0, res.keep);
    } catch (err) {
      throw toBackendError(err, `load ${name}`, { bucket: this.bucket });
    }
  }

  protected override async _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    const body = await this.#openBody(name, options);
    const bucket = this.bucket;
    const translated = (async function* () {
      try {
        yield* body;
      } catch (err) {
        throw toBackendError(err, `load ${name}`, { bucket });
      }
    })();
    return sizedSource(translated, body.size);
  }

  protected async _store(name: string, value: Uint8Array): Promise<void> {
    if (value.byteLength <= this.#multipartThreshold) {
      // One PUT: S3 makes the object visible only once the whole body has arrived.
      const key = this.#layout.objectKey(name);
      const objects = this.#objects;
      if (!objects) {
        await this.#send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: value, ContentLength: value.byteLength }), `store ${name}`);
        return;
      }
      try {
        await objects.put(key, value);
      } catch (err) {
        throw toBackendError(err, `store ${name}`, { bucket: this.bucket });
      }
      return;
    }
    await this.#upload(name, value);
  }

  protected override async _storeStream(name: string, source: ByteSource): Promise<void> {
    await this.#upload(name, Readable.from(source, { objectMode: false }));
  }

  /**
   * lib-storage's Upload: one PUT when the body fits in a part, else a multipart upload that
   * completes only after the last part, and is aborted on any failure (including the source
   * throwing), so no half-written object ever becomes visible.
   */
  async #upload(name: string, body: Uint8Array | Readable): Promise<void> {
    const upload = new Upload({
      client: this.#s3,
      params: { Bucket: this.bucket, Key: this.#layout.objectKey(name), Body: body },
      partSize: this.#partSize,
      queueSize: this.#partsInFlight,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      if (body instanceof Readable) body.destroy();
      throw toBackendError(err, `store ${name}`, { bucket: this.bucket });
    }
  }

  /** Deletes the object of `name` (ObjectNotFound if missing: S3 itself would not say). */
  protected async _delete(name: string): Promise<void> {
    const key = this.#layout.objectKey(name);
    // S3 deletes a missing key without complaint; borgstore reports ObjectNotFound.
    try {
      await this.#head(key);
    } catch (err) {
      throw toBackendError(err, `delete ${name}`, { bucket: this.bucket, name });
    }
    await this.#deleteObject(key, `delete ${name}`);
  }

  protected async _move(currentName: string, newName: string): Promise<void> {
    const source = this.#layout.objectKey(currentName);
    await this.#send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: this.#layout.objectKey(newName),
        CopySource: `${this.bucket}/${source.split("/").map(encodeURIComponent).join("/")}`,
      }),
      `move ${currentName}`,
      currentName,
    );
    await this.#deleteObject(source, `move ${currentName}`);
  }

  protected async *_list(name: string): AsyncIterable<ItemInfo> {
    const prefix = this.#layout.dirPrefix(name);
    const items: ItemInfo[] = [];
    let seenKeys = 0;
    let token: string | undefined;
    do {
      const page = await this.#listPage(prefix, { token }, `list ${name}`);
      for (const obj of page.Contents ?? []) {
        seenKeys++;
        const child = this.#layout.childName(prefix, obj.Key ?? "");
        if (child !== undefined) items.push({ name: child, exists: true, directory: false, size: obj.Size ?? 0, atime: 0 });
      }
      for (const common of page.CommonPrefixes ?? []) {
        seenKeys++;
        const child = this.#layout.childName(prefix, common.Prefix ?? "");
        if (child !== undefined) items.push({ name: child, exists: true, directory: true, size: 0, atime: 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (seenKeys === 0) throw new ObjectNotFound(name);
    // S3 orders keys, not names: "a/" (directory a) sorts after "a-b", the name "a" before it.
    items.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    yield* items;
  }

  async #abortUploadsUnder(prefix: string): Promise<void> {
    const uploads = await this.#send<{ Uploads?: { Key?: string; UploadId?: string }[] }>(
      new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }),
      "destroy",
    );
    for (const u of uploads.Uploads ?? [])
      await this.#send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }), "destroy");
  }
}
