import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { fromIni } from "@aws-sdk/credential-provider-ini";
import { UndiciRequestHandler } from "./undici-handler.js";

/** How the backend reaches the S3 service; every field is optional. */
export interface S3ConnectionOptions {
  /** `scheme://host[:port]` of an S3-compatible service; absent = AWS. */
  endpoint?: string;
  /** Signing region. Default: derived from a B2 endpoint, else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  /** Static credentials (e.g. from the URL). */
  credentials?: {
    /** Access key id. */
    accessKeyId: string;
    /** Secret access key. */
    secretAccessKey: string;
    /** Session token of temporary credentials. */
    sessionToken?: string;
  };
  /** Named profile of ~/.aws/credentials and ~/.aws/config. Without it and without credentials: the SDK's default chain. */
  profile?: string;
  /** Path-style addressing (`endpoint/bucket/key`). Default: true with a custom endpoint. */
  forcePathStyle?: boolean;
  /** Most connections open at once to the service (the pool of every request, per host). Default 50. */
  maxSockets?: number;
  /** Attempts per request, including the first; throttling, 5xx and network errors are retried with backoff. Default 5. */
  maxAttempts?: number;
  /** SDK retry mode: "standard" (exponential backoff with jitter) or "adaptive" (also rate-limits the client). Default "standard". */
  retryMode?: "standard" | "adaptive";
  /** Milliseconds to establish a connection. Default 10 000. */
  connectTimeoutMs?: number;
  /** Milliseconds a connection may stay silent during a request before it fails (and is retried). Default 60 000. */
  idleTimeoutMs?: number;
  /** "b2" derives the region from a Backblaze endpoint host. */
  flavour?: "s3" | "b2";
}

const B2_HOST = /^https?:\/\/s3\.([a-z0-9-]+)\.backblazeb2\.com(?::\d+)?$/;

export function resolveRegion(options: S3ConnectionOptions): string {
  if (options.region) return options.region;
  const b2 = options.endpoint ? B2_HOST.exec(options.endpoint) : null;
  if (b2?.[1]) return b2[1];
  return process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1";
}

/** The connection settings with their defaults filled in (the SDK client's and the load reader's). */
export function connectionSettings(options: S3ConnectionOptions) {
  return {
    maxSockets: options.maxSockets ?? 50,
    maxAttempts: options.maxAttempts ?? 5,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
  };
}

/** One S3 client with its own bounded keep-alive connection pool (undici's, see UndiciRequestHandler). */
export function createS3Client(options: S3ConnectionOptions): S3Client {
  const settings = connectionSettings(options);
  const config: S3ClientConfig = {
    region: resolveRegion(options),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    // radosgw rejects the aws-chunked CRC32 trailer the SDK sends by default, and B2 wants
    // checksum headers only where an operation requires them (as the reference configures boto3).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: settings.maxAttempts,
    retryMode: options.retryMode ?? "standard",
    requestHandler: new UndiciRequestHandler(settings) as unknown as S3ClientConfig["requestHandler"],
  };
  if (options.endpoint) config.endpoint = options.endpoint;
  else config.followRegionRedirects = true;
  if (options.credentials) config.credentials = options.credentials;
  else if (options.profile) config.credentials = fromIni({ profile: options.profile });
  return new S3Client(config);
}
