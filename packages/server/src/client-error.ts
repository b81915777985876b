import { errorPageHtml, reasonPhrase, standardReason } from "./error-page.js";
import { refusedMethodStart } from "./refused-method.js";
import { overflowsInRequestLine } from "./request-line-overflow.js";

/**
 * Node's parser errors and what CPython's http.server answers to the same bytes. Connection
 * errors (ECONNRESET, EPIPE, …) get no answer: there is no one left to read it.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_INVALID_METHOD: 501,
};

/** What Node's parser error carries: its code, and the packet it failed in with the failing offset. */
export interface ParserError {
  code?: unknown;
  rawPacket?: unknown;
  bytesParsed?: unknown;
}

/** The answer to a request Node could not read: status, status line text and error page message. */
export interface ClientErrorAnswer {
  status: number;
  reason: string;
  message: string;
}

/** The status for a request Node could not read, or undefined when the connection itself failed. */
export function clientErrorStatus(err: { code?: unknown }): number | undefined {
  const code = typeof err.code === "string" ? err.code : "";
  return STATUS_BY_CODE[code] ?? (code.startsWith("HPE_") ? 400 : undefined);
}

/**
 * The reference's answer to the bytes Node refused, or undefined when the connection itself
 * failed. `packetOpensConnection`: the packet the parser failed in is the first its connection read.
 */
export function clientErrorAnswer(err: ParserError, where: { packetOpensConnection?: boolean } = {}): ClientErrorAnswer | undefined {
  let status = clientErrorStatus(err);
  if (status === undefined) return undefined;
  if (status === 431 && Buffer.isBuffer(err.rawPacket) && typeof err.bytesParsed === "number") {
    if (overflowsInRequestLine(err.rawPacket, err.bytesParsed, where.packetOpensConnection ?? false)) status = 414;
  }
  if (status === 501) {
    // Like the reference (its first check): the method named in the status line and the page.
    const method = refusedMethod(err);
    if (method !== undefined) {
      const message = `Unsupported method ('${method.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}')`;
      return { status, reason: reasonPhrase(message, status), message };
    }
    return { status: 400, reason: standardReason(400), message: "Bad request syntax" };
  }
  return { status, reason: standardReason(status), message: status === 400 ? "Bad request syntax" : standardReason(status) };
}

const LF = 0x0a;

/**
 * The method of the request line the parser gave up in, if the reference would name it: it
 * answers 501 only to a well-formed line (method, target, HTTP/x.y), any other line 400. The line
 * runs from the method's start (found back from the failing offset) to the next line break, which
 * must be in the packet the parser read.
 */
function refusedMethod(err: ParserError): string | undefined {
  const packet = err.rawPacket;
  const at = err.bytesParsed;
  if (!Buffer.isBuffer(packet) || typeof at !== "number" || at < 0 || at > packet.length) return undefined;
  const lineEnd = packet.indexOf(LF, at);
  if (lineEnd < 0) return undefined;
  const words = packet.subarray(refusedMethodStart(packet, at), lineEnd).toString("latin1").trim().split(/[ \t]+/);
  const [method = "", , version = ""] = words;
  return words.length === 3 && /^[\x21-\x7e]+$/.test(method) && /^HTTP\/\d{1,10}\.\d{1,10}$/.test(version) ? method : undefined;
}

/**
 * The raw bytes of an error page for a request that never became one (no ServerResponse exists):
 * the reference's page with a Content-Length, so a client reading by length (stdio) stays in step,
 * and Connection: close unless the stream goes on (stdio), since on TCP nothing after malformed
 * bytes is read.
 */
export function clientErrorResponse(answer: ClientErrorAnswer, options: { close: boolean } = { close: true }): Buffer {
  const body = Buffer.from(errorPageHtml(answer.status, answer.message), "utf8");
  const head =
    `HTTP/1.1 ${answer.status} ${answer.reason}\r\n` +
    (options.close ? "Connection: close\r\n" : "") +
    "Content-Type: text/html;charset=utf-8\r\n" +
    `Content-Length: ${body.byteLength}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}
