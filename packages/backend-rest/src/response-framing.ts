import { BackendError } from "@borgstore/core";

/** The status line and headers of one HTTP/1.1 response, as read off a byte stream. */
export interface ResponseHead {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
}

const CONTENT_LENGTH = /^\d+$/;
/** Statuses that never carry a body, whatever their headers say (RFC 9112 §6.3). */
const NO_BODY = new Set([204, 205, 304]);

/** `head` without its final blank line; a BackendError when there is no status in it. */
export function parseResponseHead(head: string): ResponseHead {
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  const parts = statusLine.split(" ");
  const status = Number(parts[1]);
  if (parts.length < 2 || !Number.isInteger(status))
    throw new BackendError(`stdio server: invalid status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string | undefined> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    // Two different lengths leave the body's end unknown: keep both, so the length check refuses them.
    const earlier = headers[name];
    headers[name] = name === "content-length" && earlier !== undefined && earlier !== value ? `${earlier}, ${value}` : value;
  }
  return { status, headers };
}

/** A 1xx: an interim response the final one follows (RFC 9110 §15.2). */
export function isInterim(head: ResponseHead): boolean {
  return head.status >= 100 && head.status < 200;
}

/**
 * How many body bytes follow `head` on a stream that stays open for the next exchange. Without a
 * plain Content-Length (none, a malformed one, or a Transfer-Encoding) the body's end is unknown,
 * so the stream cannot be read in step any more: a BackendError.
 */
export function bodyLengthOf(method: string, head: ResponseHead): number {
  if (method === "HEAD" || NO_BODY.has(head.status)) return 0;
  const encoding = head.headers["transfer-encoding"];
  if (encoding !== undefined)
    throw new BackendError(`stdio server: answer with Transfer-Encoding: ${encoding} (only a Content-Length body is read)`);
  const text = head.headers["content-length"];
  if (text === undefined) throw new BackendError(`stdio server: ${head.status} answer without Content-Length`);
  const length = CONTENT_LENGTH.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(length)) throw new BackendError(`stdio server: invalid Content-Length: ${JSON.stringify(text)}`);
  return length;
}
