/**
 * CPython's http.server error page: the Python client and its tests read the message text out of
 * this HTML, so the shape is kept byte for byte (docs/rest-protocol.md#error-pages).
 */

/** CPython's `responses` long texts ("Error code explanation"), for the statuses this server sends. */
const EXPLANATIONS: Readonly<Record<number, [reason: string, explain: string]>> = {
  400: ["Bad Request", "Bad request syntax or unsupported method"],
  401: ["Unauthorized", "No permission -- see authorization schemes"],
  403: ["Forbidden", "Request forbidden -- authorization will not help"],
  404: ["Not Found", "Nothing matches the given URI"],
  406: ["Not Acceptable", "URI not available in preferred format"],
  408: ["Request Timeout", "Request timed out; try again later"],
  409: ["Conflict", "Request conflict"],
  410: ["Gone", "URI no longer exists and has been permanently removed"],
  411: ["Length Required", "Client must specify Content-Length"],
  412: ["Precondition Failed", "Precondition in headers is false"],
  413: ["Request Entity Too Large", "Entity is too large"],
  414: ["Request-URI Too Long", "URI is too long"],
  416: ["Requested Range Not Satisfiable", "Cannot satisfy request range"],
  422: ["Unprocessable Entity", ""],
  431: ["Request Header Fields Too Large", "The server refused this request because the request header fields are too large"],
  500: ["Internal Server Error", "Server got itself in trouble"],
  501: ["Not Implemented", "Server does not support this operation"],
  503: ["Service Unavailable", "The server cannot process the request due to a high load"],
  505: ["HTTP Version Not Supported", "Cannot fulfill request"],
  507: ["Insufficient Storage", ""],
};

/** The standard reason phrase of `status` (CPython's short text). */
export function standardReason(status: number): string {
  return EXPLANATIONS[status]?.[0] ?? "Error";
}

/** html.escape(text, quote=False): only & < > */
function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function errorPageHtml(status: number, message: string): string {
  const explain = EXPLANATIONS[status]?.[1] ?? "";
  return (
    "<!DOCTYPE HTML>\n" +
    '<html lang="en">\n' +
    "    <head>\n" +
    '        <meta charset="utf-8">\n' +
    "        <title>Error response</title>\n" +
    "    </head>\n" +
    "    <body>\n" +
    "        <h1>Error response</h1>\n" +
    `        <p>Error code: ${status}</p>\n` +
    `        <p>Message: ${escapeHtml(message)}.</p>\n` +
    `        <p>Error code explanation: ${status} - ${explain}.</p>\n` +
    "    </body>\n" +
    "</html>\n"
  );
}

/**
 * A reason phrase Node accepts (no CR/LF or other control characters): CPython also puts the
 * message in the status line, after sanitising it.
 */
export function reasonPhrase(message: string, status: number): string {
  const cleaned = message.replace(/[^\t\x20-\x7e]/g, "?").slice(0, 200);
  return cleaned === "" ? standardReason(status) : cleaned;
}
