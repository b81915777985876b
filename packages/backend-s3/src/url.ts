import { BackendURLInvalid } from "@borgstore/core";

/** Where an s3:/b2: URL points and which credentials it names. */
export interface S3Location {
  /** "b2" applies what Backblaze B2 needs (region from the endpoint host). */
  flavour: "s3" | "b2";
  /** Named profile of the shared AWS config/credentials files. */
  profile?: string;
  /** Access key id given in the URL. */
  accessKeyId?: string;
  /** Secret access key given in the URL. */
  secretAccessKey?: string;
  /** `scheme://host[:port]`; absent = AWS itself. */
  endpoint?: string;
  /** Name of the bucket. */
  bucket: string;
  /** Key prefix of the store inside the bucket, always ending in "/". */
  basePath: string;
}

// docs/backend-urls.md#s3-and-b2-s3-backblaze-b2: (s3|b2):[PROFILE@ | KEYID:SECRET@][SCHEME://HOST[:PORT]]/BUCKET/PATH
const S3_URL =
  /^(?<flavour>s3|b2):(?:(?:(?<profile>[^@:]+)|(?<keyId>[^:@]+):(?<secret>[^@]+))@)?(?:(?<scheme>[^:/]+):\/\/(?<host>[^:/]+)(?::(?<port>\d+))?)?\/(?<bucket>[^/]+)\/(?<path>.+)$/s;

/** True when `url` uses one of this package's schemes (it may still be malformed). */
export function isS3Url(url: string): boolean {
  return /^(s3|b2):/.test(url);
}

/**
 * Parses an s3:/b2: URL. Credentials and the path are percent-decoded, the bucket is not (as the
 * reference); the base path gets exactly one trailing "/".
 */
export function parseS3Url(url: string): S3Location {
  const m = S3_URL.exec(url);
  if (!m?.groups) throw new BackendURLInvalid(`not an S3 URL (expected (s3|b2):[profile@|keyid:secret@][scheme://host[:port]]/bucket/path): ${redact(url)}`);
  const g = m.groups;
  const location: S3Location = {
    flavour: g.flavour as "s3" | "b2",
    bucket: g.bucket as string,
    basePath: `${decode(g.path as string, url).replace(/\/+$/, "")}/`,
  };
  if (g.profile !== undefined) location.profile = g.profile;
  if (g.keyId !== undefined) {
    location.accessKeyId = decode(g.keyId, url);
    location.secretAccessKey = decode(g.secret as string, url);
  }
  if (g.scheme !== undefined) location.endpoint = `${g.scheme}://${g.host}${g.port ? `:${g.port}` : ""}`;
  return location;
}

function decode(part: string, url: string): string {
  try {
    return decodeURIComponent(part);
  } catch (cause) {
    throw new BackendURLInvalid(`invalid percent-encoding in S3 URL: ${redact(url)}`, { cause });
  }
}

/** The URL with any secret replaced, for error messages. */
export function redact(url: string): string {
  return url.replace(/^((?:s3|b2):[^:@/]+:)[^@]+@/, "$1***@");
}
