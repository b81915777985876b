// What a refused request line is answered with, from where Node's parser gave up: the 501's
// method (never bytes of the body before it) and 414 for a target over the header limit (never
// for a header over it), against a real server and Node's real parser.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger, RestServer } from "../src/index.js";
import { overflowsInRequestLine } from "../src/request-line-overflow.js";
import { refusedMethodStart } from "../src/refused-method.js";
import { ACCEPT, RawConnection } from "./helpers.js";

let root: string;
let server: RestServer;
let port: number;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "refused-request-line-"));
  const backend = new PosixFsBackend(join(root, "store"));
  await backend.create();
  server = new RestServer(backend, { logger: new Logger("error", { write: () => true } as unknown as NodeJS.WritableStream) });
  port = (await server.listenTcp(0, "127.0.0.1")).port;
});

afterAll(async () => {
  await server?.shutdown(2_000);
  await rm(root, { recursive: true, force: true });
});

/** Sends `bytes` in one write; the status lines of the answers until the server closes. */
async function statusLines(bytes: Buffer): Promise<string[]> {
  const connection = await RawConnection.open(port);
  connection.send(bytes);
  const lines: string[] = [];
  for (;;) {
    try {
      const answer = await connection.response({ timeoutMs: 5_000 });
      lines.push(`${answer.status} ${answer.reason}`);
    } catch {
      connection.close();
      return lines;
    }
  }
}

/** The methods Node's parser knows (it answers those itself, or refuses them otherwise). */
const KNOWN = new Set(
  "ACL ANNOUNCE BIND CHECKOUT CONNECT COPY DELETE DESCRIBE FLUSH GET GET_PARAMETER HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR MKCOL MOVE NOTIFY OPTIONS PATCH PAUSE PLAY POST PRI PROPFIND PROPPATCH PURGE PUT QUERY REBIND RECORD REDIRECT REPORT SEARCH SET_PARAMETER SETUP SOURCE SUBSCRIBE TEARDOWN TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE".split(" "),
);

describe("the method a 501 names", () => {
  it("is found back from where the parser gave up, not further", () => {
    const at = (text: string, failing: string) => text.indexOf(failing);
    const start = (text: string, failing: number) => refusedMethodStart(Buffer.from(text, "latin1"), failing);
    // At a line start the whole word, however far the parser got in it.
    expect(start("PUX /x HTTP/1.1\r\n", at("PUX /x", "X"))).toBe(0);
    expect(start("\r\nFOO /x HTTP/1.1\r\n", at("\r\nFOO", "OO"))).toBe(2);
    expect(start("post /a HTTP/1.1\r\n", 0)).toBe(0);
    expect(start("xx\nM-X /a HTTP/1.1\r\n", at("xx\nM-X", "X"))).toBe(3);
    // Behind a body: the body's bytes that cannot begin a method are never named.
    expect(start(`${"Q".repeat(60_000)}FOO /x HTTP/1.1\r\n`, 60_001)).toBe(60_000);
    expect(start("{}post /a HTTP/1.1\r\n", 2)).toBe(2);
    // Nor more than a method's length of those that can.
    expect(start(`${"P".repeat(100)}X /x HTTP/1.1\r\n`, 100)).toBeGreaterThanOrEqual(100 - 13);
  });

  it("is the refused method alone, behind any body (Node's parser, a real server)", async () => {
    const body = fc.string({ maxLength: 40, unit: fc.constantFrom("Q", "P", "U", "T", "-", "_", "a", "0", " ", "{", "\r", "\n") });
    const word = fc
      .string({ minLength: 1, maxLength: 10, unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ_-abcxyz019") })
      .filter((w) => !KNOWN.has(w));
    await fc.assert(
      fc.asyncProperty(body, word, async (value, method) => {
        const store = `POST /data/q HTTP/1.1\r\nAccept: ${ACCEPT}\r\nContent-Length: ${Buffer.byteLength(value, "latin1")}\r\n\r\n${value}`;
        const lines = await statusLines(Buffer.from(`${store}${method} /x HTTP/1.1\r\n\r\n`, "latin1"));
        expect(lines[0]).toBe("200 OK");
        const named = /^501 Unsupported method \('(.*)'\)$/.exec(lines[1] ?? "")?.[1];
        expect(named, lines[1]).toBeDefined();
        const extra = (named as string).slice(0, -method.length);
        expect((named as string).endsWith(method)).toBe(true);
        // At most the tail of the body, and none of it when it cannot continue into a method.
        expect(value.endsWith(extra)).toBe(true);
        expect(extra.length).toBeLessThanOrEqual(13);
        if (!/[A-Z_-]$/.test(value)) expect(extra).toBe("");
      }),
      { numRuns: Number(process.env.BORGSTORE_FUZZ_RUNS ?? 100) },
    );
  }, 60_000);
});

describe("a head over the header limit", () => {
  it("is a request line's overflow only for a line that reads method, space, target", () => {
    const overflows = (text: string, at: number, first = false) => overflowsInRequestLine(Buffer.from(text, "latin1"), at, first);
    expect(overflows("GET /aaaa", 9, true)).toBe(true);
    expect(overflows("GET /aaaa", 9, false)).toBe(false);
    expect(overflows("abc\r\n\r\nxyzGET /aaaa", 19)).toBe(true);
    expect(overflows("GET / HTTP/1.1\r\nX: bbbb", 23)).toBe(false);
    expect(overflows("GET / HTTP/1.1\r\nX-bbbb", 22)).toBe(false);
    expect(overflows("GET / HTTP/1.1\r\n bbbb", 21)).toBe(false);
    expect(overflows("GET /a HTTP/1.1", 15, true)).toBe(false);
    expect(overflows("x\nGET /aa", 0)).toBe(false);
  });

  it("is answered 414 when the target is over it and 431 when a header is (Node's parser, a real server)", async () => {
    // Clear of the 16 KiB limit on either side: where exactly Node counts it over is not the point.
    const target = fc.oneof(fc.integer({ min: 1, max: 8_000 }), fc.integer({ min: 17_000, max: 70_000 }));
    const header = fc.oneof(fc.integer({ min: 0, max: 4_000 }), fc.integer({ min: 17_000, max: 30_000 }));
    await fc.assert(
      fc.asyncProperty(target, header, fc.boolean(), async (targetLength, headerLength, behindAStore) => {
        const before = behindAStore ? `POST /data/s HTTP/1.1\r\nAccept: ${ACCEPT}\r\nContent-Length: 3\r\n\r\nabc` : "";
        const request = `GET /data/${"a".repeat(targetLength)} HTTP/1.1\r\nAccept: ${ACCEPT}\r\nX: ${"b".repeat(headerLength)}\r\n\r\n`;
        const lines = await statusLines(Buffer.from(before + request, "latin1"));
        const status = lines[behindAStore ? 1 : 0]?.slice(0, 3);
        if (targetLength > 16_384) expect(status).toBe("414");
        else if (headerLength > 16_384) expect(status).toBe("431");
        else expect(status).not.toMatch(/^41[34]|^431/);
      }),
      { numRuns: Number(process.env.BORGSTORE_FUZZ_RUNS ?? 40) },
    );
  }, 60_000);
});
