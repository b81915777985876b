import type { IncomingMessage } from "node:http";

/**
 * The head of a request that asked for an Upgrade (`Upgrade:` plus `Connection: upgrade`, what
 * `curl --http2` sends on http://), as bytes a fresh parser reads as a plain HTTP/1.1 request:
 * the reference ignores the Upgrade header and serves the request, and so the requests behind it.
 * Node's parser gives up on the connection after such a request (the rest is another protocol's),
 * so the request is handed back as bytes without its Upgrade header, followed by the bytes after it.
 *
 * Never longer than the head received (Node's parser takes only CRLF line ends and single spaces
 * in a request line), so a head within the header limit stays within it. Header values come back
 * byte for byte: Node reads them, and the target, as latin1.
 */
export function headWithoutUpgrade(req: IncomingMessage): Buffer {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.toLowerCase() !== "upgrade") head += `${name}:${raw[i + 1] as string}\r\n`;
  }
  return Buffer.from(`${head}\r\n`, "latin1");
}
