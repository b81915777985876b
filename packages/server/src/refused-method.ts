/**
 * Where the method of a request line starts that Node's parser refused with HPE_INVALID_METHOD,
 * given only the packet and the offset it gave up at. The parser matches a method byte by byte
 * against the ones it knows and gives up at the first byte no known method goes on with: the
 * bytes from the method's start to that offset are a beginning of a known method, the byte there
 * is not. What precedes the method in the packet may be the previous request's body, so the
 * start is only ever searched among those few bytes, never further back (a packet's worth of
 * body echoed in the 501's status line, as a search back to the previous line break did).
 */

/** The methods llhttp's request parser matches (HTTP's and RTSP's; the latter it refuses later, for their version). */
const PARSER_METHODS = [
  "ACL", "ANNOUNCE", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "DESCRIBE", "FLUSH", "GET", "GET_PARAMETER",
  "HEAD", "LINK", "LOCK", "M-SEARCH", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE", "NOTIFY", "OPTIONS",
  "PATCH", "PAUSE", "PLAY", "POST", "PRI", "PROPFIND", "PROPPATCH", "PURGE", "PUT", "QUERY", "REBIND", "RECORD",
  "REDIRECT", "REPORT", "SEARCH", "SET_PARAMETER", "SETUP", "SOURCE", "SUBSCRIBE", "TEARDOWN", "TRACE", "UNBIND",
  "UNLINK", "UNLOCK", "UNSUBSCRIBE",
];

/** Every beginning of a known method, the empty one included. */
const BEGINNINGS: ReadonlySet<string> = new Set(PARSER_METHODS.flatMap((method) => [...Array(method.length + 1).keys()].map((n) => method.slice(0, n))));

const LONGEST = Math.max(...PARSER_METHODS.map((method) => method.length));

const CR = 0x0d;
const LF = 0x0a;

/**
 * The offset in `packet` where the refused method starts, the parser having given up at `at`.
 * Of the possible starts, the one right after a line break (or at the packet's start) if there
 * is one (the parser skips line breaks before a request), else the earliest: an unknown method
 * may then gain a few leading bytes of the body before it, at most the length of a known method.
 */
export function refusedMethodStart(packet: Buffer, at: number): number {
  const failing = packet.toString("latin1", at, at + 1);
  let earliest = at;
  for (let start = at; start >= Math.max(0, at - LONGEST); start--) {
    const before = packet.toString("latin1", start, at);
    if (!BEGINNINGS.has(before) || BEGINNINGS.has(before + failing)) continue;
    if (start === 0 || packet[start - 1] === LF || packet[start - 1] === CR) return start;
    earliest = start;
  }
  return earliest;
}
