import type { ByteSource } from "@borgstore/core";

/** A request body: bytes, or a stream whose exact length is known up front (never chunked). */
export type RequestBody = Uint8Array | { readonly length: number; readonly source: ByteSource };

export interface RestRequest {
  method: "GET" | "HEAD" | "POST" | "DELETE";
  /** Path below the base, starting with "/" and including any query, e.g. "/ns/item?cmd=hash&algorithm=sha256". */
  target: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Cuts the exchange off, response body included (loads only: an upload stops through its body). */
  signal?: AbortSignal;
}

export interface RestResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  /** The body; read it whole, stream it, or discard it before the transport can reuse the connection. */
  body: ByteSource;
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  discard(): Promise<void>;
}

/**
 * One way of carrying HTTP/1.1 exchanges to a borgstore REST server. Connection failures surface
 * as BackendConnectionError (retryable); every HTTP status is returned, not thrown.
 */
export interface Transport {
  /**
   * True when a lost connection costs only the requests that used it (a pool replaces it by
   * itself): a reconnect keeps this transport, the other requests in flight on it go on.
   * Otherwise a lost connection breaks the whole transport, which is then replaced.
   */
  readonly replacesLostConnections?: boolean;
  request(req: RestRequest): Promise<RestResponse>;
  /** Graceful: lets the peer finish; may throw what went wrong on the peer's side. */
  close(): Promise<void>;
  /** Abrupt: drops connections / kills the child after a lost connection; never throws. */
  destroy(): void;
}

export function bodyLength(body: RequestBody | undefined): number {
  if (body === undefined) return 0;
  return body instanceof Uint8Array ? body.byteLength : body.length;
}
