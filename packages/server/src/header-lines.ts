import type { IncomingMessage } from "node:http";
import type { ClientErrorAnswer } from "./client-error.js";

/** The reference reads at most this many header lines (CPython's http.client limit); more: 431. */
export const MAX_HEADER_LINES = 100;

/** The reference's answer to more than MAX_HEADER_LINES header lines. */
export const TOO_MANY_HEADERS: ClientErrorAnswer = { status: 431, reason: "Too many headers", message: "Too many headers" };

/** Whether `req` has more header lines than the reference reads (Node's `rawHeaders` holds name and value apart). */
export function tooManyHeaderLines(req: IncomingMessage): boolean {
  return req.rawHeaders.length > 2 * MAX_HEADER_LINES;
}
