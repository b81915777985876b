import type { OutgoingHttpHeaders } from "node:http";

/** A protocol-level refusal that is not a backend error (400 Bad Request, 406, 411, 413, 501, 503). */
export class HttpError extends Error {
  readonly status: number;
  /** Extra response headers (Retry-After on a 503). */
  readonly headers: OutgoingHttpHeaders | undefined;
  constructor(status: number, message: string, headers?: OutgoingHttpHeaders) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.name = "HttpError";
  }
}
