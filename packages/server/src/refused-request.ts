/**
 * Where a request whose request line Node's parser refused ends, so that a stream carrying more
 * requests after it (stdio) can go on with the next one, as the reference does. Fed the bytes from
 * the point where the parser gave up (inside the request line). A line ending in a version is a
 * request: its head ends at its first empty line, its body is Content-Length bytes long (which the
 * reference would leave unread, out of step). Any other line is skipped alone.
 */

/** Longest head skipped: the reference reads request and header lines of up to 64 KiB. */
const MAX_HEAD_BYTES = 64 * 1024;

/** The end of a request line with a version (the part after the parser's failing point). */
const WITH_VERSION = /[ \t]HTTP\/\d{1,10}\.\d{1,10}\r?$/;

/** What a RefusedRequest knows after the bytes fed so far. */
export type RefusedRequestState =
  /** Its end is not yet in the bytes fed. */
  | { state: "more" }
  /** It ended: `rest` are the bytes fed after it (the next request's). */
  | { state: "skipped"; rest: Buffer }
  /** Its end cannot be told (chunked or contradictory lengths, a head beyond the limit). */
  | { state: "unframed" };

/** Request-line parser errors: the head and body that follow can still be framed. */
const REQUEST_LINE_ERRORS: ReadonlySet<string> = new Set(["HPE_INVALID_METHOD", "HPE_INVALID_URL", "HPE_INVALID_VERSION"]);

/** Whether Node's parser error `code` lies in a request line (the rest of the request can be framed). */
export function isRequestLineError(code: unknown): boolean {
  return typeof code === "string" && REQUEST_LINE_ERRORS.has(code);
}

export class RefusedRequest {
  #head: Buffer = Buffer.alloc(0);
  #bodyLeft: number | undefined;
  #done = false;

  /** Feeds the next bytes of the stream. */
  feed(chunk: Buffer): RefusedRequestState {
    if (this.#done) return { state: "skipped", rest: chunk };
    if (this.#bodyLeft === undefined) {
      this.#head = this.#head.byteLength === 0 ? chunk : Buffer.concat([this.#head, chunk]);
      const lineEnd = this.#head.indexOf(0x0a);
      if (lineEnd < 0) return this.#head.byteLength > MAX_HEAD_BYTES ? { state: "unframed" } : { state: "more" };
      // A line that does not end in a version is not read as a request (no headers follow it), as
      // the reference reads it: the next line may be the next request's.
      if (!WITH_VERSION.test(this.#head.subarray(0, lineEnd).toString("latin1"))) {
        this.#done = true;
        return { state: "skipped", rest: this.#head.subarray(lineEnd + 1) };
      }
      const end = headEnd(this.#head);
      if (end < 0) return this.#head.byteLength > MAX_HEAD_BYTES ? { state: "unframed" } : { state: "more" };
      const length = bodyLength(this.#head.subarray(0, end).toString("latin1"));
      if (length === undefined) return { state: "unframed" };
      chunk = this.#head.subarray(end);
      this.#head = Buffer.alloc(0);
      this.#bodyLeft = length;
    }
    const skipped = Math.min(this.#bodyLeft, chunk.byteLength);
    this.#bodyLeft -= skipped;
    if (this.#bodyLeft > 0) return { state: "more" };
    this.#done = true;
    return { state: "skipped", rest: chunk.subarray(skipped) };
  }
}

/** Offset just past the empty line that ends the head (LF or CRLF line ends), or -1. */
function headEnd(bytes: Buffer): number {
  for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) {
    if (bytes[at + 1] === 0x0a) return at + 2;
    if (bytes[at + 1] === 0x0d && bytes[at + 2] === 0x0a) return at + 3;
  }
  return -1;
}

/** The body's length from the head's header lines (the first line is the rest of the request line). */
function bodyLength(head: string): number | undefined {
  let length: number | undefined;
  for (const line of head.split(/\r?\n/).slice(1)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "transfer-encoding") return undefined;
    if (name !== "content-length") continue;
    if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) return undefined;
    length = Number(value);
  }
  return length ?? 0;
}
