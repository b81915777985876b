import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BackendConnectionError, BackendError, collectBytes } from "@borgstore/core";
import { MEDIA_TYPE } from "@borgstore/core/rest-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StdioTransport } from "../src/stdio-transport.js";
import type { RestResponse } from "../src/transport.js";
import { SERVER_CLI } from "./helpers/server.js";

// StdioTransport on its own: against our server's --stdio session, against a peer that echoes the
// request bytes it got, and against small shell peers that misbehave on purpose.

const root = mkdtempSync(join(tmpdir(), "borgstore-rest-stdio-transport-"));
afterAll(() => rm(root, { recursive: true, force: true }));

const ECHO_PEER = fileURLToPath(new URL("./helpers/stdio-echo-peer.mjs", import.meta.url));
const sh = (script: string) => ["sh", "-c", script];
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: Error) => e,
  );
}

/** Resolves once the process is gone (reaped), false after `ms`. */
async function gone(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

describe("against our server's --stdio session", () => {
  let t: StdioTransport;
  const small = new Uint8Array(100).fill(7);
  const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);

  beforeAll(async () => {
    const store = join(root, "store");
    t = new StdioTransport([process.execPath, SERVER_CLI, "--stdio", "--create", "--backend", `FILE:${store}`, "--log-level", "warning"], {
      timeout: 10_000,
    });
    for (const [name, value] of [
      ["small", small],
      ["big", big],
    ] as const) {
      const res = await t.request({ method: "POST", target: `/${name}`, body: value });
      await res.discard();
      expect(res.status).toBe(200);
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it("is the child it spawned", () => {
    expect(t.pid).toBeGreaterThan(0);
    expect(() => process.kill(t.pid as number, 0)).not.toThrow();
  });

  it("a HEAD's Content-Length announces no body: the next exchange reads its own reply", async () => {
    const head = await t.request({ method: "HEAD", target: "/small" });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("100");
    expect((await head.bytes()).byteLength).toBe(0);
    const res = await t.request({ method: "GET", target: "/small" });
    expect(same(await res.bytes(), small)).toBe(true);
  });

  it("a 4 MiB upload, whole and streamed, gets through the pipe (waiting for it to drain) and reads back", async () => {
    const again = await t.request({ method: "POST", target: "/big2", body: big });
    await again.discard();
    expect(again.status).toBe(200);
    async function* pieces() {
      for (let at = 0; at < big.byteLength; at += 300_000) yield big.subarray(at, at + 300_000);
    }
    const streamed = await t.request({ method: "POST", target: "/big3", body: { length: big.byteLength, source: pieces() } });
    await streamed.discard();
    expect(streamed.status).toBe(200);
    for (const name of ["big2", "big3"]) expect(Buffer.compare(await (await t.request({ method: "GET", target: `/${name}` })).bytes(), big)).toBe(0);
  });

  it("requests made at once take turns: the second is sent after the first's body was read", async () => {
    const first = t.request({ method: "GET", target: "/big" });
    const second = t.request({ method: "GET", target: "/small" });
    const firstRes = await first;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Buffer.compare(await firstRes.bytes(), big)).toBe(0);
    expect(same(await (await second).bytes(), small)).toBe(true);
  });

  it("a body left after its first chunk is skipped, so the next exchange stays in step", async () => {
    const res = await t.request({ method: "GET", target: "/big" });
    for await (const chunk of res.body) {
      expect(chunk.byteLength).toBeLessThan(big.byteLength);
      break;
    }
    const after = await t.request({ method: "GET", target: "/small" });
    expect(after.status).toBe(200);
    expect(same(await after.bytes(), small)).toBe(true);
  });

  it("an error status and its page come back as a reply, the session goes on", async () => {
    const res = await t.request({ method: "GET", target: "/missing" });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toBe("");
    expect((await t.request({ method: "HEAD", target: "/missing" })).status).toBe(404);
    expect(same(await (await t.request({ method: "GET", target: "/small" })).bytes(), small)).toBe(true);
  });
});

describe("the bytes of a request (a peer that echoes them)", () => {
  let t: StdioTransport;
  beforeAll(() => {
    t = new StdioTransport([process.execPath, ECHO_PEER], { timeout: 5000, env: { ...process.env, STDIO_PEER_TAG: "given" } });
  });
  afterAll(async () => {
    await t?.close();
  });
  const echoed = async (res: Promise<RestResponse>) => text(await (await res).bytes());
  const head = (line: string, ...more: string[]) =>
    [line, "Host: stdio-backend", `Accept: ${MEDIA_TYPE}`, ...more].join("\r\n") + "\r\n\r\n";

  it("a GET: request line, Host, Accept, the caller's headers, keep-alive; no Content-Length", async () => {
    const res = await t.request({ method: "GET", target: "/ns/x?a=1", headers: { range: "bytes=0-1", "x-two": "2" } });
    expect(res.headers["x-peer-tag"]).toBe("given");
    expect(text(await res.bytes())).toBe(head("GET /ns/x?a=1 HTTP/1.1", "range: bytes=0-1", "x-two: 2", "Connection: keep-alive"));
  });

  it("a POST or DELETE without a body says Content-Length: 0", async () => {
    expect(await echoed(t.request({ method: "POST", target: "/?cmd=create" }))).toBe(
      head("POST /?cmd=create HTTP/1.1", "Connection: keep-alive", "Content-Length: 0"),
    );
    expect(await echoed(t.request({ method: "DELETE", target: "/x" }))).toBe(head("DELETE /x HTTP/1.1", "Connection: keep-alive", "Content-Length: 0"));
  });

  it("a body, whole or streamed, follows the head with its length; an empty one is announced too", async () => {
    const body = new TextEncoder().encode("abc");
    expect(await echoed(t.request({ method: "POST", target: "/a", body }))).toBe(
      `${head("POST /a HTTP/1.1", "Connection: keep-alive", "Content-Length: 3")}abc`,
    );
    async function* source() {
      yield new TextEncoder().encode("de");
      yield new TextEncoder().encode("fgh");
    }
    expect(await echoed(t.request({ method: "POST", target: "/b", body: { length: 5, source: source() } }))).toBe(
      `${head("POST /b HTTP/1.1", "Connection: keep-alive", "Content-Length: 5")}defgh`,
    );
    expect(await echoed(t.request({ method: "GET", target: "/c", body: new Uint8Array(0) }))).toBe(
      head("GET /c HTTP/1.1", "Connection: keep-alive", "Content-Length: 0"),
    );
  });

  it("text() decodes UTF-8", async () => {
    const res = await t.request({ method: "POST", target: "/u", body: new TextEncoder().encode("grüß") });
    expect(await res.text()).toMatch(/\r\n\r\ngrüß$/);
  });

  it("without an env option the child gets this process's environment", async () => {
    process.env.STDIO_PEER_TAG = "inherited";
    const own = new StdioTransport([process.execPath, ECHO_PEER], { timeout: 5000 });
    delete process.env.STDIO_PEER_TAG;
    const res = await own.request({ method: "GET", target: "/" });
    await res.discard();
    expect(res.headers["x-peer-tag"]).toBe("inherited");
    await own.close();
  });
});

describe("replies as they come off the pipe (shell peers)", () => {
  const transport = (script: string, timeout = 5000) => new StdioTransport(sh(script), { timeout });

  it("a head in pieces: status, trimmed lower-case headers, lines without a name skipped; the body in pieces", async () => {
    const t = transport(
      "read line; printf 'HTTP/1.1 201 Created\\r\\nX-One:  Spaced  \\r\\nX-Two :two\\r\\nno colon here\\r\\n: nameless\\r\\nCONTENT-LENGTH: 3\\r\\n'; sleep 0.2; printf '\\r\\nab'; sleep 0.2; printf c; cat >/dev/null",
    );
    const res = await t.request({ method: "GET", target: "/x" });
    expect(res.status).toBe(201);
    expect(res.headers).toEqual({ "x-one": "Spaced", "x-two": "two", "content-length": "3" });
    expect(text(await res.bytes())).toBe("abc");
    await t.close();
  });

  it("two replies in one write: each exchange gets exactly its own body", async () => {
    const t = transport(
      "read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nabHTTP/1.1 202 Accepted\\r\\nContent-Length: 3\\r\\n\\r\\ncde'; cat >/dev/null",
    );
    const first = await t.request({ method: "GET", target: "/1" });
    expect(text(await first.bytes())).toBe("ab");
    const second = await t.request({ method: "GET", target: "/2" });
    expect(second.status).toBe(202);
    expect(text(await second.bytes())).toBe("cde");
    await t.close();
  });

  it("a reply without Content-Length has no body: the next reply follows at once", async () => {
    const t = transport("read line; printf 'HTTP/1.1 204 No Content\\r\\n\\r\\nHTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nz'; cat >/dev/null");
    const first = await t.request({ method: "GET", target: "/1" });
    expect(first.status).toBe(204);
    const second = await t.request({ method: "GET", target: "/2" });
    expect(text(await second.bytes())).toBe("z");
    expect((await first.bytes()).byteLength).toBe(0);
    await t.close();
  });

  it("a reply that starts with a blank line has an empty status line: a BackendError", async () => {
    const t = transport("read line; printf '\\r\\n\\r\\nHTTP/1.1 200 OK\\r\\n\\r\\n'; cat >/dev/null");
    const err = await failure(t.request({ method: "GET", target: "/" }));
    expect(err.message).toBe('stdio server: invalid status line: ""');
  });

  it("a status line without a status is a BackendError quoting it; the child is then dropped", async () => {
    const t = transport("read line; printf 'HTTP/1.1\\r\\n\\r\\n'; cat >/dev/null");
    const err = await failure(t.request({ method: "GET", target: "/" }));
    expect(err).not.toBeInstanceOf(BackendConnectionError);
    expect(err.message).toBe('stdio server: invalid status line: "HTTP/1.1"');
    expect(await gone(t.pid as number)).toBe(true);
    const next = await failure(t.request({ method: "GET", target: "/" }));
    expect(next).toBeInstanceOf(BackendConnectionError);
    expect(next.message).toMatch(/^stdio server: broken pipe while writing the request/);
  });

  it("a body cut short is a lost connection that drops the child", async () => {
    const t = transport("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\n\\r\\nabc'; echo 'went away' >&2; exec 1>&-; while :; do sleep 1; done");
    const res = await t.request({ method: "GET", target: "/x" });
    const err = await failure(res.bytes());
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toBe("stdio server: EOF while reading response body: went away");
    expect(await gone(t.pid as number)).toBe(true);
  });

  it("a body abandoned early and then cut short: the skip stops at EOF, the next request is a lost connection", async () => {
    const t = transport("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\n\\r\\nabc'; exec 1>&-; cat >/dev/null");
    const res = await t.request({ method: "GET", target: "/x" });
    for await (const chunk of res.body) {
      expect(text(chunk)).toBe("abc");
      break;
    }
    const err = await failure(t.request({ method: "GET", target: "/y" }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toMatch(/^stdio server: EOF while reading status line/);
    t.destroy();
  });

  it("a child that exited before the request: broken pipe, with its exit code and stderr", async () => {
    const t = transport("echo 'no store here' >&2; exit 0");
    expect(await gone(t.pid as number)).toBe(true);
    const err = await failure(t.request({ method: "POST", target: "/x", body: new Uint8Array(10) }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toBe("stdio server: broken pipe while writing the request (it exited with code 0): no store here");
  });

  it("a child that goes away while a large upload waits for the pipe: broken pipe", async () => {
    const t = transport("sleep 0.3; exit 0");
    const err = await failure(t.request({ method: "POST", target: "/x", body: new Uint8Array(4 << 20) }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toMatch(/^stdio server: broken pipe while writing the request \(it exited with code 0\)$/);
  });

  it("a destroyed transport sends nothing more: broken pipe", async () => {
    const t = transport("cat >/dev/null");
    t.destroy();
    const err = await failure(t.request({ method: "GET", target: "/" }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toMatch(/^stdio server: broken pipe while writing the request/);
  });

  it("destroy kills a child that ignores its stdin and SIGTERM", async () => {
    const t = transport("trap '' TERM; while :; do sleep 1; done");
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.destroy();
    expect(await gone(t.pid as number)).toBe(true);
  });

  it("a child killed by a signal counts as exit code 128", async () => {
    const t = transport("read line; kill -KILL $$");
    const err = await failure(t.request({ method: "GET", target: "/" }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toBe("stdio server: EOF while reading status line (it exited with code 128)");
    const closed = transport("kill -KILL $$");
    expect(await gone(closed.pid as number)).toBe(true);
    expect((await failure(closed.close())).message).toBe("stdio server exited with code 128");
  });

  it("a server command that is not there (127) or not executable (126) is a BackendError, not a lost connection", async () => {
    const missing = join(root, "no-such-server");
    const notExecutable = join(root, "not-executable");
    writeFileSync(notExecutable, "#!/bin/sh\n");
    chmodSync(notExecutable, 0o644);
    for (const [path, code] of [
      [missing, 127],
      [notExecutable, 126],
    ] as const) {
      const t = new StdioTransport([path, "--stdio"], { timeout: 5000 });
      const err = await failure(t.request({ method: "HEAD", target: "/" }));
      expect(err).toBeInstanceOf(BackendError);
      expect(err).not.toBeInstanceOf(BackendConnectionError);
      expect(err.message).toMatch(new RegExp(`^stdio server could not be started \\(${path}, exit code ${code}\\): .*${path}`));
    }
  });

  it("stderr keeps the last ten lines, a line written in pieces as one", async () => {
    const t = transport(
      "read line; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo line$i >&2; done; printf half >&2; sleep 0.1; printf 'way\\n' >&2; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'; cat >/dev/null; exit 3",
    );
    expect((await t.request({ method: "GET", target: "/" })).status).toBe(200);
    const err = await failure(t.close());
    const tail = "line7\nline8\nline9\nline10\nline11\nline12\nline13\nline14\nline15\nhalfway";
    expect(err.message).toBe(`stdio server exited with code 3: ${tail}`);
    expect(t.stderrTail).toBe(tail);
  });

  it("close kills a child that does not exit within the timeout, with its stderr in the message", async () => {
    const t = transport("echo stuck >&2; read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'; trap '' TERM; while :; do sleep 1; done", 300);
    expect((await t.request({ method: "GET", target: "/" })).status).toBe(200);
    const err = await failure(t.close());
    expect(err).toBeInstanceOf(BackendError);
    expect(err.message).toBe("stdio server did not exit within 300 ms and was killed: stuck");
    expect(await gone(t.pid as number)).toBe(true);
  });
});

describe("framing and stalls: the stream never gets out of step, no wait lasts for ever", () => {
  const transport = (script: string, timeout = 5000) => new StdioTransport(sh(script), { timeout });

  it("interim (1xx) heads are skipped: the final answer and its body belong to this request", async () => {
    const t = transport(
      "read line; printf 'HTTP/1.1 100 Continue\\r\\n\\r\\nHTTP/1.1 102 Processing\\r\\nX-A: 1\\r\\n\\r\\nHTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nab'; read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nc'; cat >/dev/null",
    );
    const first = await t.request({ method: "GET", target: "/1" });
    expect(first.status).toBe(200);
    expect(text(await first.bytes())).toBe("ab");
    expect(text(await (await t.request({ method: "GET", target: "/2" })).bytes())).toBe("c");
    await t.close();
  });

  it("a 101 answer is a BackendError that drops the child", async () => {
    const t = transport("read line; printf 'HTTP/1.1 101 Switching Protocols\\r\\n\\r\\n'; cat >/dev/null");
    const err = await failure(t.request({ method: "GET", target: "/" }));
    expect(err).toBeInstanceOf(BackendError);
    expect(err).not.toBeInstanceOf(BackendConnectionError);
    expect(await gone(t.pid as number)).toBe(true);
  });

  it("a 204, a 304 and a HEAD answer carry no body, whatever their Content-Length says", async () => {
    const t = transport(
      "read line; printf 'HTTP/1.1 204 No Content\\r\\nContent-Length: 5\\r\\n\\r\\n'; read line; printf 'HTTP/1.1 304 Not Modified\\r\\nContent-Length: 9\\r\\n\\r\\n'; read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\n'; read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 1\\r\\n\\r\\nz'; cat >/dev/null",
    );
    for (const [method, status] of [
      ["GET", 204],
      ["GET", 304],
      ["HEAD", 200],
    ] as const) {
      const res = await t.request({ method, target: "/" });
      expect(res.status).toBe(status);
      expect((await res.bytes()).byteLength).toBe(0);
    }
    expect(text(await (await t.request({ method: "GET", target: "/" })).bytes())).toBe("z");
    await t.close();
  });

  it("a body whose length is not one plain decimal number is a BackendError that drops the child", async () => {
    for (const header of ["", "Content-Length: 1.5\\r\\n", "Content-Length: +3\\r\\n", "Content-Length: 0x3\\r\\n", "Content-Length: 3\\r\\nContent-Length: 4\\r\\n", "Content-Length: 99999999999999999999\\r\\n", "Transfer-Encoding: chunked\\r\\n", "Content-Length: 3\\r\\nTransfer-Encoding: chunked\\r\\n"]) {
      const t = transport(`read line; printf 'HTTP/1.1 200 OK\\r\\n${header}\\r\\nabc'; cat >/dev/null`);
      const err = await failure(t.request({ method: "GET", target: "/" }));
      expect(err, header).toBeInstanceOf(BackendError);
      expect(err, header).not.toBeInstanceOf(BackendConnectionError);
      expect(await gone(t.pid as number)).toBe(true);
      expect(await failure(t.request({ method: "GET", target: "/" }))).toBeInstanceOf(BackendConnectionError);
    }
  });

  it("the same Content-Length twice is one length", async () => {
    const t = transport("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nContent-Length: 3\\r\\n\\r\\nabc'; cat >/dev/null");
    expect(text(await (await t.request({ method: "GET", target: "/" })).bytes())).toBe("abc");
    await t.close();
  });

  it("heads over 64 KiB, interim ones counted together, are a BackendError", async () => {
    const endless = "read line; while :; do printf 'HTTP/1.1 100 Continue\\r\\n\\r\\n'; done";
    const long = `read line; printf 'HTTP/1.1 200 OK\\r\\nX-Long: %070000d\\r\\nContent-Length: 0\\r\\n\\r\\n' 0; cat >/dev/null`;
    for (const script of [endless, long]) {
      const t = transport(script);
      const err = await failure(t.request({ method: "GET", target: "/" }));
      expect(err).toBeInstanceOf(BackendError);
      expect(err.message).toBe("stdio server: response head larger than 65536 bytes");
      expect(await gone(t.pid as number)).toBe(true);
    }
  });

  it("a child silent for the timeout, before its answer or in the middle of the body, is killed: a lost connection", async () => {
    const silent = transport("read line; sleep 30", 300);
    const before = await failure(silent.request({ method: "GET", target: "/" }));
    expect(before).toBeInstanceOf(BackendConnectionError);
    // Twice the timeout: a child not heard from yet may still be starting.
    expect(before.message).toBe("stdio server sent no response bytes within 600 ms and was killed");
    expect(await gone(silent.pid as number)).toBe(true);

    const stalled = transport("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\n\\r\\nabc'; echo stalled >&2; sleep 30", 300);
    const res = await stalled.request({ method: "GET", target: "/" });
    const midway = await failure(res.bytes());
    expect(midway).toBeInstanceOf(BackendConnectionError);
    expect(midway.message).toBe("stdio server sent no response bytes within 300 ms and was killed: stalled");
    expect(await gone(stalled.pid as number)).toBe(true);
  });

  it("a body left early while the child stalls: leaving ends after the timeout, the next request finds the connection lost", async () => {
    const t = transport("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\n\\r\\nabc'; sleep 30", 300);
    const res = await t.request({ method: "GET", target: "/" });
    for await (const chunk of res.body) {
      expect(text(chunk)).toBe("abc");
      break;
    }
    expect(await gone(t.pid as number)).toBe(true);
    expect(await failure(t.request({ method: "GET", target: "/" }))).toBeInstanceOf(BackendConnectionError);
  });

  it("a child may take twice the timeout for its first answer (starting up, connecting), then only the timeout", async () => {
    const answer = "printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'";
    const t = transport(`read line; sleep 0.5; ${answer}; read line; sleep 0.5; ${answer}; cat >/dev/null`, 300);
    expect((await t.request({ method: "GET", target: "/1" })).status).toBe(200);
    const err = await failure(t.request({ method: "GET", target: "/2" }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toBe("stdio server sent no response bytes within 300 ms and was killed");
  });

  it("a child that stops reading its stdin fails an upload after the timeout: a lost connection", async () => {
    const t = transport("sleep 30", 300);
    const err = await failure(t.request({ method: "POST", target: "/x", body: new Uint8Array(4 << 20) }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toBe("stdio server took no request bytes within 600 ms and was killed");
    expect(await gone(t.pid as number)).toBe(true);
  });

  it("a slow reader of a body is no stalled child: only waits for the child count", async () => {
    const t = transport("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nabc'; cat >/dev/null", 200);
    const res = await t.request({ method: "GET", target: "/" });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(text(await res.bytes())).toBe("abc");
    await t.close();
  });

  it("destroy lets requests waiting behind a body nobody reads fail at once", async () => {
    const t = transport("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nabc'; cat >/dev/null");
    await t.request({ method: "GET", target: "/unread" });
    const queued = [t.request({ method: "GET", target: "/1" }), t.request({ method: "GET", target: "/2" })];
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.destroy();
    for (const err of await Promise.all(queued.map(failure))) expect(err).toBeInstanceOf(BackendConnectionError);
  });

  it("close lets the requests asked for before it finish; those still stuck after its timeout fail, later ones at once", async () => {
    const answer = "printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nabc'";
    const t = transport(`read line; ${answer}; read line; ${answer}; cat >/dev/null`, 300);
    const first = t.request({ method: "GET", target: "/1" });
    const second = t.request({ method: "GET", target: "/2" });
    const third = failure(t.request({ method: "GET", target: "/3" }));
    const closed = failure(t.close());
    expect((await failure(t.request({ method: "GET", target: "/late" }))).message).toBe(
      "stdio server: the session was closed before the request was sent",
    );
    expect(text(await (await first).bytes())).toBe("abc");
    await (await second).body[Symbol.asyncIterator]().next(); // the second's body stays half read, the third waits behind it
    expect((await closed).message).toMatch(/did not exit within 300 ms/);
    expect(await third).toBeInstanceOf(BackendConnectionError);
  });
});

describe("collectBytes of an empty reply body", () => {
  it("is empty", async () => {
    const t = new StdioTransport(sh("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'; cat >/dev/null"), { timeout: 5000 });
    const res = await t.request({ method: "GET", target: "/" });
    expect((await collectBytes(res.body)).byteLength).toBe(0);
    await t.close();
  });
});
