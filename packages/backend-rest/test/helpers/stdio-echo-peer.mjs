// A stdio peer for StdioTransport's tests: reads HTTP/1.1 requests from stdin (Content-Length bodies
// only) and answers each with 200 whose body is the request's raw bytes, so a test sees exactly what
// the transport sent. The header X-Peer-Tag carries $STDIO_PEER_TAG (which environment it got).
let pending = Buffer.alloc(0);
process.stdin.on("data", (data) => {
  pending = Buffer.concat([pending, data]);
  for (;;) {
    const end = pending.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = pending.subarray(0, end).toString("latin1");
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0";
    const total = end + 4 + Number(length);
    if (pending.length < total) return;
    const request = pending.subarray(0, total);
    pending = pending.subarray(total);
    const tag = process.env.STDIO_PEER_TAG ?? "";
    process.stdout.write(`HTTP/1.1 200 OK\r\nX-Peer-Tag: ${tag}\r\nContent-Length: ${request.length}\r\n\r\n`);
    process.stdout.write(request);
  }
});
