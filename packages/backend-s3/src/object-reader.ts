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

/** Where the reader sends its GETs. */
export interface ObjectReaderOptions {
  /** `scheme://host[:port]` of the service, addressed path-style (`endpoint/bucket/key`). */
  endpoint: string;
  bucket: string;
  /** Attempts per GET, including the first (the client's maxAttempts). */
  maxAttempts: number;
}

/** Answers that another try may change (the SDK's standard retry strategy retries the same). */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set(["SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"]);

/**
 * GetObject of loads on undici, signed with the SDK client's own credentials, region and hash (SigV4).
 * The SDK's GET over node:http cost 12–17 ms CPU and 40–110 ms wall for a 4 MiB object from
 * radosgw, undici 3–4 ms and 11–15 ms (scripts/bench/http-get-microbench.mjs); for 1 KiB the
 * SDK's middleware stack cost 1.9 ms CPU per GET, this 0.6 ms. Failures look like the SDK's
 * (`name` = the S3 error code, `$metadata.httpStatusCode`), so one translateError serves both.
 */
export class ObjectReader {
  readonly #agent: Agent;
  readonly #signer: SignatureV4;
  readonly #origin: URL;
  readonly #options: ObjectReaderOptions;

  /** A reader on `client`'s connection pool, or undefined if the client has none of ours (see createS3Client). */
  static of(client: S3Client, options: ObjectReaderOptions): ObjectReader | undefined {
    const handler = client.config.requestHandler;
    return handler instanceof UndiciRequestHandler ? new ObjectReader(client, handler.agent, options) : undefined;
  }

  private constructor(client: S3Client, agent: Agent, options: ObjectReaderOptions) {
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

  /** GETs `key`; a 4xx/5xx answer throws an SDK-shaped error, transient ones after retries. */
  async get(key: string, request: ObjectRequest): Promise<ObjectResponse> {
    const { maxAttempts } = this.#options;
    const res = await withRetry(() => this.#getOnce(key, request), {
      backend: "s3",
      retries: Math.max(1, maxAttempts) - 1,
      // The SDK's standard strategy: 100 ms base, doubling, full jitter, at most 20 s.
      delay: (retry) => Math.random() * Math.min(20_000, 100 * 2 ** retry),
      isTransient: (err) => TRANSIENT_STATUS.has(statusOf(err) ?? 0) || TRANSIENT_CODES.has((err as Error).name),
      signal: request.signal,
    });
    return res as ObjectResponse;
  }

  async #getOnce(key: string, request: ObjectRequest): Promise<ObjectResponse> {
    const path = `${basePath(this.#origin)}/${this.#options.bucket}/${encodeKey(key)}`;
    const headers: Record<string, string> = { host: this.#origin.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" };
    if (request.range) headers.range = request.range;
    if (request.ifMatch) headers["if-match"] = request.ifMatch;
    const signed = await this.#signer.sign({
      method: "GET",
      protocol: this.#origin.protocol,
      hostname: this.#origin.hostname,
      path,
      headers,
    });
    const res = await this.#agent.request({ origin: this.#origin.origin, method: "GET", path, headers: signed.headers, signal: request.signal });
    if (res.statusCode === 200 || res.statusCode === 206) {
      const announced = Number(res.headers["content-length"]);
      const contentRange = res.headers["content-range"];
      return {
        body: res.body,
        length: Number.isSafeInteger(announced) && announced >= 0 ? announced : undefined,
        status: res.statusCode,
        contentRange: typeof contentRange === "string" ? contentRange : undefined,
      };
    }
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
