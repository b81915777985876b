/**
 * What a server told us it handles, from the `X-BorgStore-Features` header our server sends on
 * every response. The Python reference sends none, and needs both precautions: it shares one
 * backend across concurrent requests (they fail with 412, spec §6.3), and it stores whatever part
 * of a body arrived before the connection ended unless the request carried a hash to check.
 */
export interface ServerFeatures {
  /** Requests may overlap; otherwise one request at a time. */
  concurrentRequests: boolean;
  /** An upload cut short of its Content-Length is never stored; otherwise every upload carries its hash. */
  verifiedUploads: boolean;
}

export const FEATURES_HEADER = "x-borgstore-features";

/** Until a server says otherwise: the precautions the reference needs. */
export const CAUTIOUS: ServerFeatures = { concurrentRequests: false, verifiedUploads: false };

export function parseServerFeatures(header: string | undefined): ServerFeatures {
  const tokens = new Set((header ?? "").split(",").map((t) => t.trim().toLowerCase()));
  return { concurrentRequests: tokens.has("concurrent-requests"), verifiedUploads: tokens.has("verified-uploads") };
}
