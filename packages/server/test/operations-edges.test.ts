import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, RawConnection, type RawResponse, type RunningServer, header, rawRequest, request, startInProcess, tempDir } from "./helpers.js";

// operations.ts's refusals and answer details that the reference's test list does not reach, over
// raw HTTP against the CLI's server in this process.
describe("REST operations: refusals and details", () => {
  const dir = tempDir();
  let server: RunningServer;
  const text = (r: RawResponse) => r.body.toString();
  const req = (method: string, target: string, body?: string, headers: [string, string][] = []) =>
    request(server.port, method, target, { body, headers });

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${dir.path}/store`, "--create", "--max-object-size", "10"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("refuses a POST or DELETE on the root without a command, and a hash without a name, with 400", async () => {
    const post = await req("POST", "/", "x");
    expect([post.status, post.reason]).toEqual([400, "Bad Request"]);
    const del = await req("DELETE", "/");
    expect([del.status, del.reason]).toEqual([400, "Bad Request"]);
    const hash = await req("POST", "/?cmd=hash");
    expect([hash.status, hash.reason]).toEqual([400, "Missing name for hash"]);
  });

  it("stores a value of exactly --max-object-size, refuses one byte more with 413 naming both sizes", async () => {
    expect((await req("POST", "/data/ten", "0123456789")).status).toBe(200);
    const over = await req("POST", "/data/eleven", "0123456789a");
    expect([over.status, over.reason]).toEqual([413, "Object too large: 11 > 10 bytes"]);
    // A defrag whose result would be larger is refused the same way; one of exactly the limit is made.
    expect(text(await req("POST", "/?cmd=defrag&target=data%2Fd", '[["data/ten", 0, 10]]'))).toBe("data/d");
    const big = await req("POST", "/?cmd=defrag&target=data%2Fe", '[["data/ten", 0, 6], ["data/ten", 0, 5]]');
    expect([big.status, big.reason]).toEqual([413, "Object too large: 11 > 10 bytes"]);
  });

  it("reads defrag levels as Python's int() does: blanks and a sign around digits, nothing else", async () => {
    expect((await req("POST", "/data/v", "abc")).status).toBe(200);
    const sources = '[["data/v", 0, 3]]';
    const levels = async (value: string) => req("POST", `/?cmd=defrag&algorithm=sha256&namespace=n&levels=${encodeURIComponent(value)}`, sources);
    const one = await levels(" +1 ");
    expect(one.status).toBe(200);
    expect(text(one)).toMatch(/^n\/ba\/ba7816bf/);
    for (const bad of ["1x", "x1", "1 x", "a 1"]) {
      const refused = await levels(bad);
      expect([refused.status, refused.reason]).toEqual([400, `invalid literal for int() with base 10: '${bad}'`]);
    }
  });

  it("answers a chunked upload 411, and quota and lists as JSON, directories' info as \"true\"", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("POST", "/data/c", [["Host", "x"], ["Accept", ACCEPT], ["Authorization", AUTH], ["Transfer-Encoding", "chunked"]], "3\r\nabc\r\n0\r\n\r\n"));
    const chunked = await conn.response();
    conn.close();
    expect(chunked.status).toBe(411);
    expect(chunked.reason).toBe("Length Required: send the body with a Content-Length (chunked bodies are not accepted)");
    expect(header(await req("POST", "/?cmd=quota"), "Content-Type")).toBe("application/json");
    expect(header(await req("GET", "/data/"), "Content-Type")).toBe("application/json");
    expect(header(await req("HEAD", "/data"), "X-BorgStore-Is-Directory")).toBe("true");
    expect(header(await req("HEAD", "/data/ten"), "X-BorgStore-Is-Directory")).toBe("false");
  });
});
