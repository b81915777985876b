import { createHash } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { withRetry } from "@borgstore/core/backend";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Agent, Dispatcher } from "undici";
import { statusOf } from "./errors.js";
import { UndiciRequestHandler, encodeRfc3986 } from "./undici-handler.js";

/** What a load asks one GetObject for. */
export interface ObjectRequest {
  range?: string | undefined;
  ifMatch?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** An object's GET answer (200 or 206): its body is the caller's to read or destroy. */
export interface ObjectResponse {
  body: Dispatcher.ResponseData["body"];
  /** The Content-Length of this very response. */
  length: number | undefined;
  status: number;
  contentRange: string | undefined;
}

/** Where the client sends its requests. */
export interface ObjectClientOptions {
  /** `scheme://host[:port]` of the service, addressed path-style (`endpoint/bucket/key`). */
  endpoint: string;
  bucket: string;
  /** Attempts per request, including the first (the SDK client's maxAttempts). */
  maxAttempts: number;
}

/** Answers that another try may change (the SDK's standard retry strategy retries the same). */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set(["SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"]);

/**
 * The per-item requests of a store (GetObject, HeadObject, PutObject of one part, DeleteObject)
 * sent straight on the SDK client's undici pool and signed with its own credentials, region and
 * hash (SigV4), without the SDK's middleware stack. Measured per request against radosgw
 * (scripts/bench/http-get-microbench.mjs): a 4 MiB GET cost the SDK on node:http 12–17 ms CPU and
 * 40–110 ms wall, this 3–4 ms and 11–15 ms; the SDK's stack alone cost 2.5–3 ms CPU per small
 * request, this 0.6 ms. Failures look like the SDK's (`name` = the S3 error code,
 * `$metadata.httpStatusCode`), so one toBackendError serves both; transient answers and lost
 * connections are tried again (core's withRetry), as the SDK would.
 */
export class ObjectClient {
  readonly #agent: Agent;
  readonly #signer: SignatureV4;
  readonly #origin: URL;
  readonly #options: ObjectClientOptions;

  /** A client on `client`'s connection pool, or undefined if the client has none of ours (see createS3Client). */
  static of(client: S3Client, options: ObjectClientOptions): ObjectClient | undefined {
    const handler = client.config.requestHandler;
    return handler instanceof UndiciRequestHandler ? new ObjectClient(client, handler.agent, options) : undefined;
  }

  private constructor(client: S3Client, agent: Agent, options: ObjectClientOptions) {
    this.#options = options;
    this.#origin = new URL(options.endpoint);
    this.#agent = agent;
    const config = client.config;
    this.#signer = new SignatureV4({
      credentials: () => config.credentials(),
      region: config.region,
      service: "s3",
      sha256: config.sha256,
      // S3 signs the path as sent, once encoded (as the SDK's S3 signer does).
      uriEscapePath: false,
    });
  }

  /** GETs `key` (a range of it, if that version); the body is the caller's to read. */
  async get(key: string, request: ObjectRequest): Promise<ObjectResponse> {
    const headers: Record<string, string> = {};
    if (request.range) headers.range = request.range;
    if (request.ifMatch) headers["if-match"] = request.ifMatch;
    const res = await this.#send("GET", key, { headers, signal: request.signal });
    const announced = Number(res.headers["content-length"]);
    const contentRange = res.headers["content-range"];
    return {
      body: res.body,
      length: Number.isSafeInteger(announced) && announced >= 0 ? announced : undefined,
      status: res.statusCode,
      contentRange: typeof contentRange === "string" ? contentRange : undefined,
    };
  }

  /** HEADs `key`: its length and ETag (a missing key throws NotFound, HTTP 404). */
  async head(key: string): Promise<{ length: number; etag: string | undefined }> {
    const res = await this.#send("HEAD", key, {});
    await res.body.dump();
    const etag = res.headers.etag;
    return { length: Number(res.headers["content-length"] ?? 0), etag: typeof etag === "string" ? etag : undefined };
  }

  /** PUTs `value` as the whole object `key` (visible only once all of it arrived; its SHA-256 is signed and checked by S3). */
  async put(key: string, value: Uint8Array): Promise<void> {
    const hash = createHash("sha256").update(value).digest("hex");
    const res = await this.#send("PUT", key, { headers: { "content-length": String(value.byteLength) }, body: value, payloadHash: hash });
    await res.body.dump();
  }

  /** DELETEs `key` (S3 answers 204 whether it existed or not). */
  async delete(key: string): Promise<void> {
    const res = await this.#send("DELETE", key, {});
    await res.body.dump();
  }

  async #send(
    method: Dispatcher.HttpMethod,
    key: string,
    request: { headers?: Record<string, string>; body?: Uint8Array; payloadHash?: string; signal?: AbortSignal | undefined },
  ): Promise<Dispatcher.ResponseData> {
    const res = await withRetry(() => this.#sendOnce(method, key, request), {
      backend: "s3",
      retries: Math.max(1, this.#options.maxAttempts) - 1,
      // The SDK's standard strategy: 100 ms base, doubling, full jitter, at most 20 s.
      delay: (retry) => Math.random() * Math.min(20_000, 100 * 2 ** retry),
      isTransient: (err) => TRANSIENT_STATUS.has(statusOf(err) ?? 0) || TRANSIENT_CODES.has((err as Error).name),
      signal: request.signal,
    });
    return res as Dispatcher.ResponseData;
  }

  async #sendOnce(
    method: Dispatcher.HttpMethod,
    key: string,
    request: { headers?: Record<string, string>; body?: Uint8Array; payloadHash?: string; signal?: AbortSignal | undefined },
  ): Promise<Dispatcher.ResponseData> {
    const path = `${basePath(this.#origin)}/${this.#options.bucket}/${encodeKey(key)}`;
    const headers = { ...request.headers, host: this.#origin.host, "x-amz-content-sha256": request.payloadHash ?? "UNSIGNED-PAYLOAD" };
    const signed = await this.#signer.sign({ method, protocol: this.#origin.protocol, hostname: this.#origin.hostname, path, headers });
    const res = await this.#agent.request({ origin: this.#origin.origin, method, path, headers: signed.headers, body: request.body, signal: request.signal });
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    throw serviceError(res.statusCode, await res.body.text().catch(() => ""));
  }
}

/** The endpoint's own path prefix, without a trailing "/" ("" for `http://host:port`). */
function basePath(origin: URL): string {
  return origin.pathname.replace(/\/+$/, "");
}

/** A key as S3 wants it in the path: each segment RFC 3986-encoded (as the SDK encodes it). */
function encodeKey(key: string): string {
  return key
    .split("/")
    .map(encodeRfc3986)
    .join("/");
}

/** An S3 error answer as an error shaped like the SDK's: `name` = its Code, `$metadata.httpStatusCode`. */
function serviceError(status: number, xml: string): Error {
  const code = /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? defaultCode(status);
  const message = /<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? code;
  const err = new Error(message);
  err.name = code;
  return Object.assign(err, { $metadata: { httpStatusCode: status }, $fault: status >= 500 ? "server" : "client" });
}

/** What the SDK calls an error answer without an XML body (a HEAD-like empty 404, say). */
function defaultCode(status: number): string {
  if (status === 404) return "NotFound";
  if (status === 412) return "PreconditionFailed";
  if (status === 416) return "InvalidRange";
  return "UnknownError";
}
