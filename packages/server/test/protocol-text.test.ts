import { describe, expect, it } from "vitest";
import { clientErrorAnswer, clientErrorResponse, clientErrorStatus } from "../src/client-error.js";
import { coalesce } from "../src/coalesce.js";
import { errorPageHtml, reasonPhrase, standardReason } from "../src/error-page.js";
import { escapeControl, originFormTarget, parseRequestTarget, queryValue } from "../src/request-target.js";

/** CPython's http.server error page for `status`, as its send_error writes it (docs/rest-protocol.md#error-pages). */
function cpythonPage(status: number, message: string, explain: string): string {
  return `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: ${status}</p>
        <p>Message: ${message}.</p>
        <p>Error code explanation: ${status} - ${explain}.</p>
    </body>
</html>
`;
}

describe("error pages and reason phrases (CPython's, byte for byte)", () => {
  it("is CPython's page, with the message HTML-escaped (& < > only) and the status's explanation", () => {
    expect(errorPageHtml(404, `a <b> & "c"`)).toBe(cpythonPage(404, `a &lt;b&gt; &amp; "c"`, "Nothing matches the given URI"));
    expect(errorPageHtml(507, "full")).toBe(cpythonPage(507, "full", ""));
    expect(errorPageHtml(599, "odd")).toBe(cpythonPage(599, "odd", ""));
  });

  it("gives the standard reason of a status, or Error for one it does not know", () => {
    expect(standardReason(413)).toBe("Request Entity Too Large");
    expect(standardReason(599)).toBe("Error");
  });

  it("puts the message in the status line with control and non-ASCII characters as ?, at most 200 of them, or the standard reason when empty", () => {
    expect(reasonPhrase("bad\r\nname\té", 400)).toBe("bad??name\t?");
    expect(reasonPhrase("x".repeat(300), 400)).toBe("x".repeat(200));
    expect(reasonPhrase("", 404)).toBe("Not Found");
  });
});

describe("requests Node could not read", () => {
  it("get CPython's status for the same bytes: 431, 413, 408, 501, 400 for other parser errors, none when the connection failed", () => {
    expect(clientErrorStatus({ code: "HPE_HEADER_OVERFLOW" })).toBe(431);
    expect(clientErrorStatus({ code: "HPE_CHUNK_EXTENSIONS_OVERFLOW" })).toBe(413);
    expect(clientErrorStatus({ code: "ERR_HTTP_REQUEST_TIMEOUT" })).toBe(408);
    expect(clientErrorStatus({ code: "HPE_INVALID_METHOD" })).toBe(501);
    expect(clientErrorStatus({ code: "HPE_INVALID_URL" })).toBe(400);
    expect(clientErrorStatus({ code: "ECONNRESET" })).toBeUndefined();
    expect(clientErrorStatus({ code: 400 })).toBeUndefined();
    expect(clientErrorStatus({})).toBeUndefined();
  });

  it("are answered with the error page, its Content-Length and Connection: close", () => {
    for (const [status, reason, message] of [
      [400, "Bad Request", "Bad request syntax"],
      [431, "Request Header Fields Too Large", "Request Header Fields Too Large"],
    ] as const) {
      const page = Buffer.from(errorPageHtml(status, message));
      const head = `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: ${page.byteLength}\r\n\r\n`;
      const answer = clientErrorAnswer({ code: status === 400 ? "HPE_INVALID_URL" : "HPE_HEADER_OVERFLOW" });
      expect(answer).toEqual({ status, reason, message });
      expect(clientErrorResponse(answer as NonNullable<typeof answer>).toString("latin1")).toBe(head + page.toString("latin1"));
    }
  });

  it("name an unknown method as the reference does, found around where the parser gave up", () => {
    const packet = Buffer.from("GET /a HTTP/1.1\r\n\r\nFROB /a HTTP/1.1\r\n\r\n", "latin1");
    expect(clientErrorAnswer({ code: "HPE_INVALID_METHOD", rawPacket: packet, bytesParsed: 20 })).toEqual({
      status: 501,
      reason: "Unsupported method ('FROB')",
      message: "Unsupported method ('FROB')",
    });
    // No word to name: the reference's answer to a request line it cannot read.
    expect(clientErrorAnswer({ code: "HPE_INVALID_METHOD" })?.status).toBe(400);
    expect(clientErrorAnswer({ code: "HPE_INVALID_METHOD", rawPacket: Buffer.from("\xe4 /a HTTP/1.1\r\n", "latin1"), bytesParsed: 0 })?.status).toBe(400);
    // A line that is not method, target and version: the reference's "Bad request syntax" (400).
    for (const line of ["THIS IS NOT HTTP\r\n", "FROB /a\r\n", "FROB /a HTTP/1.1"])
      expect(clientErrorAnswer({ code: "HPE_INVALID_METHOD", rawPacket: Buffer.from(line), bytesParsed: 1 })?.status, line).toBe(400);
  });
});

describe("request targets and queries (docs/rest-protocol.md#dispatch)", () => {
  it("are read as the reference's urlsplit reads them: absolute form by its path and query, no fragment", () => {
    expect(originFormTarget("/data/aa")).toBe("/data/aa");
    expect(originFormTarget("/data/aa#frag")).toBe("/data/aa");
    expect(originFormTarget("/a?b#c?d")).toBe("/a?b");
    expect(originFormTarget("http://x/data/aa")).toBe("/data/aa");
    expect(originFormTarget("HTTP://x:80/a/b?q")).toBe("/a/b?q");
    expect(originFormTarget("http://x?cmd=x")).toBe("/?cmd=x");
    expect(originFormTarget("http://x")).toBe("/");
    // Not a target this server serves: refused later, as before.
    expect(originFormTarget("*")).toBe("*");
  });

  it("strips every leading and trailing slash, and has an empty query without ?", () => {
    expect(parseRequestTarget("//a/b//").name).toBe("a/b");
    expect(parseRequestTarget("/a/b").query.toString()).toBe("");
    expect(parseRequestTarget("/a?x=1").query.get("x")).toBe("1");
  });

  it("says why a target is refused", () => {
    expect(() => parseRequestTarget("a")).toThrow("request target must be an absolute path, but got: a");
    expect(() => parseRequestTarget("/a\x01")).toThrow("name must not contain control characters, but got: a\\x01");
    expect(() => parseRequestTarget("/a%2e")).toThrow("name must not contain percent-encoded '.', '/', '\\' or NUL, but got: a%2e");
  });

  it("takes the first non-blank value of a field (Python's parse_qs drops blank ones)", () => {
    expect(queryValue(new URLSearchParams("x=&x=1&x=2"), "x")).toBe("1");
    expect(queryValue(new URLSearchParams("x="), "x")).toBeUndefined();
  });

  it("escapes control characters as \\xNN and doubles backslashes, as the reference's log does", () => {
    expect(escapeControl("a\\b\x01\x1f\x7f\x9f é")).toBe("a\\\\b\\x01\\x1f\\x7f\\x9f é");
  });
});

describe("coalesce: small socket chunks regrouped into pieces of at least the target", () => {
  async function pieces(chunks: Uint8Array[], target?: number): Promise<Uint8Array[]> {
    async function* source() {
      yield* chunks;
    }
    const out: Uint8Array[] = [];
    for await (const piece of coalesce(source(), target)) out.push(piece);
    return out;
  }
  const bytes = (n: number, fill = n) => Buffer.alloc(n, fill);

  it("joins small chunks until the target is reached (exactly, or beyond), then the rest at the end", async () => {
    const sizes = async (chunks: number[], target: number) => (await pieces(chunks.map((n) => bytes(n)), target)).map((p) => p.byteLength);
    expect(await sizes([10, 10, 5], 25)).toEqual([25]);
    expect(await sizes([10, 10, 10, 3], 25)).toEqual([30, 3]);
    expect(await sizes([10, 30], 25)).toEqual([40]);
    expect(await sizes([], 25)).toEqual([]);
    const joined = await pieces([bytes(3, 1), bytes(2, 2)], 25);
    expect(Buffer.concat(joined).equals(Buffer.from([1, 1, 1, 2, 2]))).toBe(true);
  });

  it("passes a chunk of the target's size or more through uncopied when nothing is pending, and a lone last chunk too", async () => {
    const big = bytes(25);
    const [first] = await pieces([big], 25);
    expect(first).toBe(big);
    const small = bytes(5);
    const [last] = await pieces([small], 25);
    expect(last).toBe(small);
  });

  it("aims at 1 MiB by default", async () => {
    const half = 512 * 1024;
    expect((await pieces([bytes(half), bytes(half), bytes(half)])).map((p) => p.byteLength)).toEqual([2 * half, half]);
  });
});
