import { errorPageHtml, standardReason } from "./error-page.js";

/**
 * Node's parser errors and what CPython's http.server answers to the same bytes. Connection
 * errors (ECONNRESET, EPIPE, …) get no answer: there is no one left to read it.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** The status for a request Node could not read, or undefined when the connection itself failed. */
export function clientErrorStatus(err: { code?: unknown }): number | undefined {
  const code = typeof err.code === "string" ? err.code : "";
  return STATUS_BY_CODE[code] ?? (code.startsWith("HPE_") ? 400 : undefined);
}

/**
 * The raw bytes of an error page for a request that never became one (no ServerResponse exists):
 * the reference's page with a Content-Length, so a client reading by length (stdio) stays in step,
 * and Connection: close, since nothing after malformed bytes can be read.
 */
export function clientErrorResponse(status: number): Buffer {
  const reason = standardReason(status);
  const body = Buffer.from(errorPageHtml(status, status === 400 ? "Bad request syntax" : reason), "utf8");
  const head =
    `HTTP/1.1 ${status} ${reason}\r\n` +
    "Connection: close\r\n" +
    "Content-Type: text/html;charset=utf-8\r\n" +
    `Content-Length: ${body.byteLength}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}
