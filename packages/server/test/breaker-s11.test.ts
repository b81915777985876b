// Breaker findings (session 11) against the real CLI server, over raw TCP sockets and raw stdio
// bytes. Each finding is an `it.fails` until fixed; the reference's behaviour is in its comment.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const CLI = join(__dirname, "..", "dist", "cli.js");
const ACCEPT = "Accept: application/vnd.x.borgstore.rest.v1\r\n";
const dirs: string[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function storeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "brk-s11-"));
  dirs.push(dir);
  return join(dir, "store");
}

function request(method: string, path: string, body = "", extra = ""): Buffer {
  const length = body.length > 0 || method === "POST" ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : "";
  return Buffer.from(`${method} ${path} HTTP/1.1\r\n${ACCEPT}${extra}${length}\r\n${body}`, "latin1");
}

function statuses(out: Buffer): string[] {
  return [...out.toString("latin1").matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => m[1] as string);
}

function stored(store: string, name: string): string | undefined {
  try {
    return readFileSync(join(store, name), "latin1");
  } catch {
    return undefined;
  }
}

/** Runs a --stdio session over a new store; writes `chunks` with a pause between them; ends stdin. */
async function stdioSession(chunks: Buffer[], store = storeDir()): Promise<{ out: Buffer; err: string; store: string }> {
  const child = spawn(process.execPath, [CLI, "--stdio", "--create", "--backend", `file://${store}`]);
  children.push(child);
  const out: Buffer[] = [];
  let err = "";
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (const chunk of chunks) {
    child.stdin.write(chunk);
    await new Promise((r) => setTimeout(r, 150));
  }
  child.stdin.end();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
  return { out: Buffer.concat(out), err, store };
}

/** Starts the CLI on TCP (port 0) over a new store; resolves with its port. */
async function tcpServer(store = storeDir(), extra: string[] = []): Promise<{ port: number; store: string; log: () => string }> {
  const child = spawn(process.execPath, [CLI, "--port", "0", "--create", "--backend", `file://${store}`, ...extra]);
  children.push(child);
  let err = "";
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
      const m = /127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", () => reject(new Error(`server exited: ${err}`)));
  });
  return { port, store, log: () => err };
}

/** Sends `data` on one connection; collects the answer until the server closes or `waitMs` passes. */
function exchange(port: number, data: Buffer, waitMs = 1500): Promise<{ out: Buffer; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const out: Buffer[] = [];
    let closedByServer = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ out: Buffer.concat(out), closedByServer });
    }, waitMs);
    socket.on("data", (c: Buffer) => out.push(c));
    socket.on("error", () => undefined);
    socket.on("end", () => {
      closedByServer = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ out: Buffer.concat(out), closedByServer });
    });
    socket.write(data);
  });
}

describe("breaker s11: Upgrade header", () => {
  // FINDING: MEDIUM a request pipelined right behind one carrying `Upgrade: h2c` + `Connection:
  // Upgrade` (what `curl --http2` sends on http://) on TCP is neither executed nor answered, and
  // the connection stays open, silent, until the idle timeout (client hangs). Expected: both
  // answered (200, 200) and the DELETE done. The reference answers both and deletes.
  // fixed: an 'upgrade' listener takes the connection Node gives up on and, once the answers
  // before it are out, hands the request (without its Upgrade header) and the bytes behind it
  // to a fresh parser on the same connection (server.ts #serveUpgradeRequest).
  it("TCP: a DELETE pipelined behind a GET with Upgrade: h2c is answered and done", async () => {
    const server = await tcpServer();
    await exchange(server.port, request("POST", "/data/k", "KEEP"));
    const { out } = await exchange(
      server.port,
      Buffer.concat([
        request("GET", "/data/k", "", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"),
        request("DELETE", "/data/k"),
      ]),
    );
    expect(statuses(out)).toEqual(["200", "200"]);
    expect(stored(server.store, "data/k")).toBeUndefined();
  });

  // FINDING: MEDIUM over --stdio, a request with `Upgrade:` + `Connection: Upgrade` ends the
  // session: everything after it on stdin is ignored (not executed, not answered) and the process
  // exits 0 at end of input as if all was served. Expected: 404, 200, 200 and data/b stored. The
  // reference answers all three and stores data/b.
  // fixed: the same on the session's connection (server.ts #serveUpgradeRequest).
  it("stdio: requests after one with an Upgrade header are served", async () => {
    const { out, store } = await stdioSession([
      request("GET", "/data/", "", "Upgrade: h2c\r\nConnection: Upgrade\r\n"),
      Buffer.concat([request("POST", "/data/b", "B"), request("GET", "/data/b")]),
    ]);
    expect(statuses(out)).toEqual(["404", "200", "200"]);
    expect(stored(store, "data/b")).toBe("B");
  });
});

describe("breaker s11: refused requests", () => {
  // FINDING: LOW the access log has no line for a request refused before the app (an unknown
  // method's 501, CONNECT's 501), though the README says the observer "sees requests refused
  // before the app runs (Node's parser's 400s …)". Expected a line like `"FOO /x HTTP/1.1" 501 -`
  // (the reference logs exactly that, over TCP and stdio); got none (only at --log-level debug a
  // free-text note without the request line). Metrics miss them too.
  // Fixed with a line that has the status and reason but not the refused bytes (they may hold
  // anything: RequestObserver.refused).
  it("stdio: the access log has a line for a refused unknown method", async () => {
    const { out, err } = await stdioSession([Buffer.concat([Buffer.from(`FOO /x HTTP/1.1\r\n${ACCEPT}\r\n`), request("GET", "/data/x")])]);
    expect(statuses(out)).toEqual(["501", "404"]);
    expect(err).toMatch(/"<refused>" 501 - \(Unsupported method \('FOO'\)\)/);
  });

  // FINDING: LOW a request line with version HTTP/2.0 (or any 1.x/2.x Node accepts) is executed:
  // `DELETE /data/k HTTP/2.0` deletes. The reference refuses it with 505 (Invalid HTTP version)
  // and the object stays.
  it("TCP: a DELETE with version HTTP/2.0 is refused and deletes nothing", async () => {
    const server = await tcpServer();
    await exchange(server.port, request("POST", "/data/k", "KEEP"));
    const { out } = await exchange(server.port, Buffer.from(`DELETE /data/k HTTP/2.0\r\n${ACCEPT}\r\n`));
    expect(statuses(out)[0]).toBe("505");
    expect(stored(server.store, "data/k")).toBe("KEEP");
  });
});

/** Sends `data` on one connection, then half-closes (FIN) and reads until the server closes. */
function exchangeHalfClosed(port: number, data: Buffer, waitMs = 8000): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const out: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(out));
    };
    const timer = setTimeout(done, waitMs);
    socket.on("data", (c: Buffer) => out.push(c));
    socket.on("error", done);
    socket.on("close", done);
    socket.end(data);
  });
}

describe("breaker s11: client half-close (FIN after pipelined requests)", () => {
  // FINDING: HIGH a client that pipelines requests and then half-closes its side (shutdown(SHUT_WR),
  // e.g. `nc -N`, while still reading) gets answers to only the first few; the requests behind
  // them still run: here a 1 MiB store and/or the DELETE take effect and are never answered (the
  // access log shows them as `- -`). That is what the README says cannot happen ("no client loses
  // the answer to a store that happened"). Expected: every effect answered (the reference answers
  // all five and deletes k); got e.g. 3 answers with 4 stores done and k deleted.
  it("TCP: no store or delete takes effect unanswered when the client half-closes", async () => {
    const server = await tcpServer();
    await exchange(server.port, request("POST", "/data/k", "KEEP"));
    const value = "v".repeat(1 << 20);
    const out = await exchangeHalfClosed(
      server.port,
      Buffer.concat([...[0, 1, 2, 3].map((i) => request("POST", `/data/p${i}`, value)), request("DELETE", "/data/k")]),
    );
    await new Promise((r) => setTimeout(r, 500));
    const effects = [0, 1, 2, 3].filter((i) => existsSync(join(server.store, `data/p${i}`))).length + (existsSync(join(server.store, "data/k")) ? 0 : 1);
    expect(statuses(out).length).toBeGreaterThanOrEqual(effects);
  });

  // FINDING: MEDIUM small pipelined requests followed by a half-close get no answer at all (the
  // connection just closes; the access log shows each as `- -`); nothing is stored. Expected: all
  // six answered, as the reference does (and as the --stdio mode does at end of input).
  it("TCP: pipelined requests sent before a half-close are answered", async () => {
    const server = await tcpServer();
    const out = await exchangeHalfClosed(
      server.port,
      Buffer.concat([...[0, 1, 2, 3, 4].map((i) => request("POST", `/data/p${i}`, "small")), request("GET", "/data/p0")]),
    );
    expect(statuses(out)).toEqual(["200", "200", "200", "200", "200", "200"]);
  });
});

describe("breaker s11: stdio refusals that end the session", () => {
  // FINDING: LOW over --stdio, a request line longer than Node's header limit (a 70 000-byte
  // target) is answered `431 Request Header Fields Too Large` and the session ends: the requests
  // after it are neither executed nor answered, and the process exits 0. The reference answers
  // `414 Request-URI Too Long` and reads on (the POST after it is stored). The same holds for a
  // header block over 16 KiB (reference: served) and a control byte in a header name (reference:
  // served): only request-line parser errors read on.
  // fixed: an overflow in a line that reads "method SP target" from its start (a line break
  // before it in the packet, or the connection's first packet) is the request line's: 414, and
  // the session skips the rest of that request as after other request-line refusals
  // (request-line-overflow.ts). Still ends the session: a target whose rest beyond the parser's
  // stop is over 64 KiB; and a header block over the limit or a control byte in a header (431/400).
  it("stdio: the session reads on after an over-long request target", async () => {
    const { out, store } = await stdioSession([
      Buffer.concat([Buffer.from(`GET /${"a".repeat(70_000)} HTTP/1.1\r\n${ACCEPT}\r\n`), request("POST", "/data/b", "B")]),
    ]);
    expect(statuses(out)).toEqual(["414", "200"]);
    expect(stored(store, "data/b")).toBe("B");
  });
});

describe("breaker s11: the 501's method", () => {
  // FINDING: LOW (MEDIUM for clients with a status-line limit) when an unknown method follows a
  // request body in the same packet read, the method named in the 501 is taken from the packet's
  // start (or the body's last line break), not from the request line: the answer's status line
  // and page say `Unsupported method ('QQQQ…QFOO')`, echoing up to a packet (~64 KiB) of the
  // previous request's body. Python's http.client refuses a status line over 65 536 bytes. The
  // reference answers `501 Unsupported method ('FOO')`.
  // fixed: the method's start is searched back from the parser's stop only over bytes that
  // make a beginning of a method the parser knows, preferring one right after a line break
  // (refused-method.ts): the name gains at most a few body bytes that could begin a method.
  it("TCP: an unknown method behind a body is named alone in the 501", async () => {
    const server = await tcpServer();
    const { out } = await exchange(
      server.port,
      Buffer.concat([request("POST", "/data/q", "Q".repeat(200_000)), Buffer.from("FOO /x HTTP/1.1\r\n\r\n")]),
      3000,
    );
    const lines = out.toString("latin1").match(/^HTTP\/1\.1 501 [^\r]*/m);
    expect(lines?.[0]).toBe("HTTP/1.1 501 Unsupported method ('FOO')");
  });

  // FINDING: LOW a lower-case method (`post /data/a HTTP/1.1`) is answered `400 Bad Request` (Bad
  // request syntax) instead of the reference's `501 Unsupported method ('post')` (the session
  // does read on, skipping its body).
  // fixed: a failing offset of 0 (the method's first byte) searched for the line's start from
  // the packet's end (Buffer#lastIndexOf with -1); the method's start is now found as above.
  it("stdio: a lower-case method gets the reference's 501", async () => {
    const { out } = await stdioSession([Buffer.from(`post /data/a HTTP/1.1\r\n${ACCEPT}Content-Length: 3\r\n\r\nabc`)]);
    expect(out.toString("latin1")).toMatch(/^HTTP\/1\.1 501 Unsupported method \('post'\)/);
  });
});
