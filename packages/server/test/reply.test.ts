import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BodyPace,
  CACHE_CONTROL,
  FEATURES_HEADER,
  type ReplyContext,
  SERVER_FEATURES,
  announcedLength,
  requestBody,
  sendBody,
  sendErrorPage,
  sendHead,
  sendStream,
  sendUnauthorized,
} from "../src/reply.js";
import { RawConnection, type RawResponse, rawRequest } from "./helpers.js";

// reply.ts's writers on a real http.Server, read back byte for byte by a raw client: each test
// hands the server what to do with its next request.
let server: Server;
let port: number;
const handlers: Array<(req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = [];

beforeAll(async () => {
  server = createServer((req, res) => void handlers.shift()?.(req, res));
  // Idle connections stay open: a reply that should have been cut must not look cut because Node
  // closed the connection after its keep-alive timeout (5 s).
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

function context(req: IncomingMessage, res: ServerResponse, extra: Partial<ReplyContext> = {}): ReplyContext {
  return { incoming: req, outgoing: res, keepStreamOpen: false, signal: new AbortController().signal, ...extra };
}

/** Sends `method target` (with `body`, announced or not) and answers it with `handler`. */
async function exchange(
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
  options: { method?: string; body?: Buffer | string; headers?: [string, string][]; conn?: RawConnection } = {},
): Promise<{ response: RawResponse; conn: RawConnection }> {
  const method = options.method ?? "GET";
  const conn = options.conn ?? (await RawConnection.open(port));
  handlers.push(handler);
  const body = options.body ?? "";
  const headers: [string, string][] = [["Host", "x"], ...(options.headers ?? [])];
  if (body.length > 0 && !headers.some(([k]) => k === "Content-Length")) headers.push(["Content-Length", String(Buffer.byteLength(body))]);
  conn.send(rawRequest(method, "/x", headers, body));
  return { response: await conn.response({ head: method === "HEAD" }), conn };
}

const names = (response: RawResponse) => response.headers.map(([k]) => k);
const exactHeader = (response: RawResponse, name: string) => response.headers.find(([k]) => k === name)?.[1];

/** The response is cut: the connection closes soon, before a whole response came (before its head or inside its body). */
async function expectCut(conn: RawConnection): Promise<void> {
  await expect(conn.response({ timeoutMs: 3000 })).rejects.toThrow(/connection closed (inside a response body|before a response)/);
  conn.close();
}

/** A pace that lets everything through at once and notes what it was asked. */
function notingPace(): BodyPace & { received: (bytes: number) => Promise<void>; asked: { received: number[]; sending: number[] } } {
  const asked = { received: [] as number[], sending: [] as number[] };
  return {
    asked,
    received: async (bytes) => {
      asked.received.push(bytes);
    },
    sending: async (bytes) => {
      asked.sending.push(bytes);
    },
  };
}

describe("sendBody", () => {
  it("writes a 200 with the exact header casing, Cache-Control, the features and the length announced", async () => {
    let res!: ServerResponse;
    const { response, conn } = await exchange((req, out) => {
      res = out;
      sendBody(context(req, out), 200, "caf\u00e9", "text/plain", { "X-BorgStore-Atime": "5" });
    });
    conn.close();
    expect(response.status).toBe(200);
    expect(response.reason).toBe("OK");
    expect(names(response)).toEqual(expect.arrayContaining(["Content-Type", "Cache-Control", "X-BorgStore-Atime", "Content-Length"]));
    expect(exactHeader(response, "Content-Type")).toBe("text/plain");
    expect(exactHeader(response, "Cache-Control")).toBe(CACHE_CONTROL);
    expect(exactHeader(response, FEATURES_HEADER)).toBe(SERVER_FEATURES);
    // A string body is latin1: one byte per character.
    expect(exactHeader(response, "Content-Length")).toBe("4");
    expect(response.body).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect(announcedLength(res)).toBe(4);
  });

  it("names 206 Partial Content and other statuses by their standard reason; no Content-Type unless given", async () => {
    const partial = await exchange((req, out) => sendBody(context(req, out), 206, Buffer.from("ab")));
    partial.conn.close();
    expect([partial.response.status, partial.response.reason]).toEqual([206, "Partial Content"]);
    expect(names(partial.response)).not.toContain("Content-Type");
    const missing = await exchange((req, out) => sendBody(context(req, out), 404, undefined));
    missing.conn.close();
    expect([missing.response.status, missing.response.reason]).toEqual([404, "Not Found"]);
    expect(exactHeader(missing.response, "Content-Length")).toBe("0");
  });

  it("announces the length but sends no body to HEAD, and an empty body without a write", async () => {
    const head = await exchange((req, out) => sendBody(context(req, out), 200, "abc"), { method: "HEAD" });
    expect(exactHeader(head.response, "Content-Length")).toBe("3");
    // The next response on the connection starts right after the head: no body came between.
    const next = await exchange((req, out) => sendBody(context(req, out), 200, ""), { conn: head.conn });
    head.conn.close();
    expect(next.response.status).toBe(200);
    expect(exactHeader(next.response, "Content-Length")).toBe("0");
    expect(next.response.body.byteLength).toBe(0);
  });

  it("paces a body in pieces of 64 KiB, asking the pace before each", async () => {
    const pace = notingPace();
    const bytes = Buffer.alloc(64 * 1024 * 2 + 10, 7);
    const { response, conn } = await exchange((req, out) => sendBody(context(req, out, { pace }), 200, bytes));
    conn.close();
    expect(response.body.equals(bytes)).toBe(true);
    expect(pace.asked.sending).toEqual([65536, 65536, 10]);
  });

  it("answers a paced reply without a body at once, asking the pace nothing", async () => {
    const pace = notingPace();
    const { response, conn } = await exchange((req, out) => sendBody(context(req, out, { pace }), 200, undefined));
    const next = await exchange((req, out) => sendBody(context(req, out, { pace }), 200, ""), { conn });
    conn.close();
    expect([response.status, exactHeader(response, "Content-Length"), next.response.status]).toEqual([200, "0", 200]);
    expect(pace.asked.sending).toEqual([]);
  });

  it("gives other statuses the reference's reason phrase, not Node's", async () => {
    const { response, conn } = await exchange((req, out) => sendBody(context(req, out), 413, undefined));
    conn.close();
    expect([response.status, response.reason]).toEqual([413, "Request Entity Too Large"]);
  });

  it("asks the pace for no empty piece after a body of whole 64 KiB pieces", async () => {
    const pace = notingPace();
    const bytes = Buffer.alloc(64 * 1024 * 2, 1);
    const { response, conn } = await exchange((req, out) => sendBody(context(req, out, { pace }), 200, bytes));
    conn.close();
    expect(response.body.equals(bytes)).toBe(true);
    expect(pace.asked.sending).toEqual([65536, 65536]);
  });

  it("cuts the connection when the request's signal fires while a paced body waits for the pace", async () => {
    const controller = new AbortController();
    let asked = 0;
    const pace: BodyPace = {
      received: async () => {},
      sending: async () => {
        asked++;
        if (asked === 2) {
          controller.abort();
          await new Promise(() => {});
        }
      },
    };
    const conn = await RawConnection.open(port);
    handlers.push((req, out) => sendBody(context(req, out, { pace, signal: controller.signal }), 200, Buffer.alloc(200_000)));
    conn.send(rawRequest("GET", "/x", [["Host", "x"]]));
    await expectCut(conn);
  });

  it("cuts the connection when a paced body cannot be written", async () => {
    const pace: BodyPace = {
      received: async () => {},
      sending: async () => {
        throw new Error("no more");
      },
    };
    const conn = await RawConnection.open(port);
    handlers.push((req, out) => sendBody(context(req, out, { pace }), 200, Buffer.alloc(10)));
    conn.send(rawRequest("GET", "/x", [["Host", "x"]]));
    await expectCut(conn);
  });
});

describe("sendHead", () => {
  it("answers 200 OK with Cache-Control, the given headers and no body", async () => {
    let res!: ServerResponse;
    const { response, conn } = await exchange(
      (req, out) => {
        res = out;
        sendHead(context(req, out), { "Content-Length": 12, "X-BorgStore-Is-Directory": "0" });
      },
      { method: "HEAD" },
    );
    conn.close();
    expect([response.status, response.reason]).toEqual([200, "OK"]);
    expect(exactHeader(response, "Cache-Control")).toBe(CACHE_CONTROL);
    expect(exactHeader(response, "X-BorgStore-Is-Directory")).toBe("0");
    expect(exactHeader(response, "Content-Length")).toBe("12");
    expect(announcedLength(res)).toBe(12);
  });

  it("records no length for a response this module did not write", async () => {
    let res!: ServerResponse;
    const { conn } = await exchange((_req, out) => {
      res = out;
      out.end();
    });
    conn.close();
    expect(announcedLength(res)).toBeUndefined();
  });
});

describe("sendStream", () => {
  async function* source(...chunks: string[]) {
    for (const chunk of chunks) yield Buffer.from(chunk);
  }

  it("streams a source of its announced size with its headers", async () => {
    const { response, conn } = await exchange((req, out) =>
      sendStream(context(req, out), 206, Object.assign(source("ab", "cd"), { size: 4 }), "application/octet-stream", { "Content-Range": "bytes 0-3/9" }),
    );
    conn.close();
    expect([response.status, response.reason]).toEqual([206, "Partial Content"]);
    expect(exactHeader(response, "Content-Type")).toBe("application/octet-stream");
    expect(exactHeader(response, "Cache-Control")).toBe(CACHE_CONTROL);
    expect(exactHeader(response, "Content-Range")).toBe("bytes 0-3/9");
    expect(response.body.toString()).toBe("abcd");
  });

  it("cuts the connection when the source delivers more or fewer bytes than its size, or fails", async () => {
    for (const [chunks, size] of [
      [["ab", "cde"], 4],
      [["ab"], 4],
      [["abcd", "e"], 4],
    ] as const) {
      const conn = await RawConnection.open(port);
      handlers.push((req, out) => sendStream(context(req, out), 200, Object.assign(source(...chunks), { size }), "x/y"));
      conn.send(rawRequest("GET", "/x", [["Host", "x"]]));
      await expectCut(conn);
    }
  });

  it("cuts the connection as soon as the source delivers more than its size, not when it ends", async () => {
    async function* overlong() {
      yield Buffer.from("ab");
      yield Buffer.from("cde");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const conn = await RawConnection.open(port);
    handlers.push((req, out) => sendStream(context(req, out), 200, Object.assign(overlong(), { size: 4 }), "x/y"));
    conn.send(rawRequest("GET", "/x", [["Host", "x"]]));
    await expectCut(conn);
  });

  it("cuts the connection when the request's signal fires while the source waits", async () => {
    const controller = new AbortController();
    async function* stalled() {
      yield Buffer.from("ab");
      controller.abort();
      await new Promise(() => {});
    }
    const conn = await RawConnection.open(port);
    handlers.push((req, out) => sendStream(context(req, out, { signal: controller.signal }), 200, Object.assign(stalled(), { size: 4 }), "x/y"));
    conn.send(rawRequest("GET", "/x", [["Host", "x"]]));
    await expectCut(conn);
  });

  it("paces each chunk in pieces of 64 KiB", async () => {
    const pace = notingPace();
    const big = "z".repeat(64 * 1024 + 1);
    const { response, conn } = await exchange((req, out) =>
      sendStream(context(req, out, { pace }), 200, Object.assign(source("abc", big), { size: 3 + big.length }), "x/y"),
    );
    conn.close();
    expect(response.body.toString()).toBe(`abc${big}`);
    expect(pace.asked.sending).toEqual([3, 65536, 1]);
  });
});

describe("requestBody", () => {
  it("is the request itself without a pace, and the same bytes, each chunk asked of the pace, with one", async () => {
    let plain: unknown;
    const first = await exchange(
      async (req, out) => {
        plain = requestBody(context(req, out)) === req;
        sendBody(context(req, out), 200, undefined);
      },
      { method: "POST", body: "abc" },
    );
    first.conn.close();
    expect(plain).toBe(true);
    const pace = notingPace();
    const body = Buffer.alloc(200_000, 5);
    let got: Buffer | undefined;
    const second = await exchange(
      async (req, out) => {
        const parts: Buffer[] = [];
        for await (const chunk of requestBody(context(req, out, { pace }))) parts.push(chunk as Buffer);
        got = Buffer.concat(parts);
        sendBody(context(req, out), 200, undefined);
      },
      { method: "POST", body },
    );
    second.conn.close();
    expect(got?.equals(body)).toBe(true);
    expect(pace.asked.received.reduce((a, b) => a + b, 0)).toBe(body.byteLength);
  });
});

describe("sendErrorPage", () => {
  it("answers with CPython's page, the message as reason, Connection: close and the page's length", async () => {
    const { response, conn } = await exchange((req, out) => sendErrorPage(context(req, out), 404, "no such thing", { "X-Extra": "1" }));
    expect([response.status, response.reason]).toEqual([404, "no such thing"]);
    expect(exactHeader(response, "Connection")).toBe("close");
    expect(exactHeader(response, "Content-Type")).toBe("text/html;charset=utf-8");
    expect(exactHeader(response, "X-Extra")).toBe("1");
    expect(response.body.toString()).toContain("<p>Message: no such thing.</p>");
    expect(Number(exactHeader(response, "Content-Length"))).toBe(response.body.byteLength);
    expect(await conn.waitClosed()).toBe(true);
  });

  it("sends no page to HEAD, and keeps a stdio session's stream open (no Connection: close)", async () => {
    const head = await exchange((req, out) => sendErrorPage(context(req, out, { keepStreamOpen: true }), 400, "bad"), { method: "HEAD" });
    expect(head.response.status).toBe(400);
    expect(exactHeader(head.response, "Connection")).not.toBe("close");
    const next = await exchange((req, out) => sendBody(context(req, out), 200, "ok"), { conn: head.conn });
    head.conn.close();
    expect(next.response.body.toString()).toBe("ok");
  });

  it("destroys a response whose headers went out already", async () => {
    const conn = await RawConnection.open(port);
    handlers.push(async (req, out) => {
      out.writeHead(200, { "Content-Length": 10 });
      out.write("12345");
      await sendErrorPage(context(req, out), 500, "late");
    });
    conn.send(rawRequest("GET", "/x", [["Host", "x"]]));
    await expectCut(conn);
  });

  it("reads a body that arrived before answering, but not one that is still coming, nor for 411, 413 or a refused body", async () => {
    // Whole body with the request: read (and dropped) first.
    const arrived = await exchange(
      async (req, out) => {
        await sendErrorPage(context(req, out), 400, "bad");
        expect(req.readableEnded || req.complete).toBe(true);
      },
      { method: "POST", body: "0123456789" },
    );
    arrived.conn.close();
    expect(arrived.response.status).toBe(400);
    for (const [status, refused] of [
      [411, false],
      [413, false],
      [400, true],
    ] as const) {
      let flowing: boolean | null | undefined;
      const conn = await RawConnection.open(port);
      handlers.push(async (req, out) => {
        // Whether the body was asked for (discarding it resumes the request) as the page goes out:
        // Node resumes an unread request itself once the response has finished.
        out.once("prefinish", () => (flowing = req.readableFlowing));
        await sendErrorPage(context(req, out, { bodyRefused: refused }), status, "refused");
      });
      conn.send(rawRequest("POST", "/x", [["Host", "x"], ["Content-Length", "100"]], "only part"));
      const response = await conn.response();
      conn.close();
      expect(response.status).toBe(status);
      expect(flowing).toBeNull();
    }
    // A body still coming: the grace (100 ms) is waited, then the page goes out anyway.
    let started = 0;
    const events = ["end", "error", "close"] as const;
    let listeners: { before: number[]; after: number[] } | undefined;
    const conn = await RawConnection.open(port);
    handlers.push(async (req, out) => {
      started = Date.now();
      const before = events.map((event) => req.listenerCount(event));
      await sendErrorPage(context(req, out), 400, "bad");
      // The wait for the body leaves no listener on the request behind.
      listeners = { before, after: events.map((event) => req.listenerCount(event)) };
    });
    conn.send(rawRequest("POST", "/x", [["Host", "x"], ["Content-Length", "100"]], "only part"));
    const response = await conn.response();
    conn.close();
    expect(response.status).toBe(400);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(listeners?.after).toEqual(listeners?.before);
  });
});

describe("sendUnauthorized", () => {
  it("answers the reference's 401 and keeps the connection when the body arrived whole", async () => {
    const { response, conn } = await exchange((req, out) => sendUnauthorized(context(req, out)), { method: "POST", body: "abc" });
    expect([response.status, response.reason]).toEqual([401, "Unauthorized"]);
    expect(exactHeader(response, "WWW-Authenticate")).toBe('Basic realm="BorgStore REST Server"');
    expect(exactHeader(response, "Cache-Control")).toBe(CACHE_CONTROL);
    expect(exactHeader(response, "Connection")).toBe("keep-alive");
    expect(response.body.toString()).toBe("Unauthorized");
    const next = await exchange((req, out) => sendBody(context(req, out), 200, "ok"), { conn });
    conn.close();
    expect(next.response.body.toString()).toBe("ok");
  });

  it("keeps the connection for a body parsed whole before the 401 is written", async () => {
    const { response, conn } = await exchange(
      async (req, out) => {
        await new Promise((resolve) => setImmediate(resolve));
        expect(req.complete).toBe(true);
        await sendUnauthorized(context(req, out));
      },
      { method: "POST", body: "abc" },
    );
    expect(response.status).toBe(401);
    expect(exactHeader(response, "Connection")).toBe("keep-alive");
    const next = await exchange((req, out) => sendBody(context(req, out), 200, "ok"), { conn });
    conn.close();
    expect(next.response.body.toString()).toBe("ok");
  });

  it("closes the connection when the body is still coming after the grace, and sends no body to HEAD", async () => {
    const conn = await RawConnection.open(port);
    handlers.push((req, out) => sendUnauthorized(context(req, out)));
    conn.send(rawRequest("POST", "/x", [["Host", "x"], ["Content-Length", "100"]], "part"));
    const response = await conn.response();
    expect(response.status).toBe(401);
    expect(exactHeader(response, "Connection")).toBe("close");
    expect(await conn.waitClosed()).toBe(true);
    conn.close();

    const head = await exchange((req, out) => sendUnauthorized(context(req, out)), { method: "HEAD" });
    expect(head.response.status).toBe(401);
    expect(exactHeader(head.response, "Content-Length")).toBe("12");
    const next = await exchange((req, out) => sendBody(context(req, out), 200, "ok"), { conn: head.conn });
    head.conn.close();
    expect(next.response.body.toString()).toBe("ok");
  });

  it("keeps a stdio session's stream open without reading the body; writes nothing once the response is destroyed", async () => {
    const stdio = await exchange((req, out) => sendUnauthorized(context(req, out, { keepStreamOpen: true })), {
      method: "POST",
      headers: [["Content-Length", "100"]],
      body: "part",
    });
    expect(stdio.response.status).toBe(401);
    expect(exactHeader(stdio.response, "Connection")).toBe("keep-alive");
    stdio.conn.close();

    const conn = await RawConnection.open(port);
    let wrote: boolean | undefined;
    handlers.push(async (req, out) => {
      req.once("close", () => undefined);
      const pending = sendUnauthorized(context(req, out));
      conn.close();
      await pending;
      wrote = out.headersSent;
    });
    conn.send(rawRequest("POST", "/x", [["Host", "x"], ["Content-Length", "100"]], "part"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(wrote).toBe(false);
  });
});
