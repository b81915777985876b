/** The Accept value every request carries; a server answers a request without it with 406. */
export const MEDIA_TYPE = "application/vnd.x.borgstore.rest.v1";

/**
 * Header names of the protocol, spelled as the server sends them: the Python client reads
 * response headers case-sensitively. Node hands a receiver lower-case names (`.toLowerCase()`).
 */
export const HEADERS = {
  /** What our server handles beyond the reference (see {@link ServerFeatures}); absent from the reference. */
  features: "X-BorgStore-Features",
  /** HEAD reply: "true" for a directory, "false" for an item. */
  isDirectory: "X-BorgStore-Is-Directory",
  /** HEAD reply: the access time as Python's str(float), or 0 when unknown. */
  atime: "X-BorgStore-Atime",
  /** Upload: the hex SHA-256 the body must hash to, or the server answers 422 and stores nothing. */
  contentHash: "X-Content-hash-sha256",
} as const;

/**
 * What a server says it handles, in its features header. The Python reference sends none and
 * needs both precautions: it shares one backend across concurrent requests (they fail with 412),
 * and it stores whatever part of a body arrived before the connection ended unless the request
 * carried a hash to check.
 */
export interface ServerFeatures {
  /** Requests may overlap; otherwise one request at a time. */
  concurrentRequests: boolean;
  /** An upload cut short of its Content-Length is never stored; otherwise every upload carries its hash. */
  verifiedUploads: boolean;
}

const FEATURE_TOKENS: Readonly<Record<keyof ServerFeatures, string>> = {
  concurrentRequests: "concurrent-requests",
  verifiedUploads: "verified-uploads",
};

/** Until a server says otherwise: the precautions the reference needs. */
export const CAUTIOUS: Readonly<ServerFeatures> = { concurrentRequests: false, verifiedUploads: false };

/** The features header's value for `features` (tokens separated by ", "). */
export function formatServerFeatures(features: ServerFeatures): string {
  const keys = Object.keys(FEATURE_TOKENS) as (keyof ServerFeatures)[];
  return keys
    .filter((key) => features[key])
    .map((key) => FEATURE_TOKENS[key])
    .join(", ");
}

/** The features a header value announces: comma-separated tokens, any case, unknown ones ignored. */
export function parseServerFeatures(header: string | undefined): ServerFeatures {
  const tokens = new Set((header ?? "").split(",").map((t) => t.trim().toLowerCase()));
  return {
    concurrentRequests: tokens.has(FEATURE_TOKENS.concurrentRequests),
    verifiedUploads: tokens.has(FEATURE_TOKENS.verifiedUploads),
  };
}
