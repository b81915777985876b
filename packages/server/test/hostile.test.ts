import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, RawConnection, type RunningServer, header, rawRequest, request, startInProcess, tempDir } from "./helpers.js";

const A: [string, string] = ["Accept", ACCEPT];
const Z: [string, string] = ["Authorization", AUTH];
const H: [string, string] = ["Host", "127.0.0.1"];

/** Every file below `dir`, relative, sorted (to prove nothing outside the store changed). */
function tree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    out.push(rel);
    if (entry.isDirectory()) out.push(...tree(join(dir, entry.name), `${rel}/`));
  }
  return out.sort();
}

describe("hostile input over raw TCP", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;
  let outsideBefore: string[];

  beforeAll(async () => {
    mkdirSync(join(dir.path, "outside"));
    writeFileSync(join(dir.path, "outside", "secret"), "secret");
    server = await startInProcess(["--backend", `FILE:${store}`, "--create", "--idle-timeout", "2", "--max-object-size", "1000000"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    outsideBefore = tree(dir.path).filter((p) => !p.startsWith("store"));
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    dir.remove();
  });

  async function expectStatus(target: string, status: number, method = "GET", body = ""): Promise<string> {
    const res = await request(server.port, method, target, { body });
    expect(res.status, `${method} ${target}`).toBe(status);
    const text = res.body.toString("latin1");
    expect(text).not.toContain(dir.path);
    return text;
  }

  it.each([
    ["/../outside/secret"],
    ["/ns/../../outside/secret"],
    ["/%2e%2e/outside/secret"],
    ["/%2E%2E/%2e%2e/etc/passwd"],
    ["/ns%2f..%2f..%2foutside%2fsecret"],
    ["/ns%5c..%5csecret"],
    ["/a%00b"],
    ["/UPPER"],
    [`/${"a".repeat(101)}`],
  ])("refuses GET and POST of %s with 400 and touches nothing", async (target) => {
    await expectStatus(target, 400);
    await expectStatus(target, 400, "POST", "data");
  });

  it("refuses absolute and '..' names in move parameters", async () => {
    await expectStatus("/?cmd=move&current=%2Fetc%2Fpasswd&new=x", 400, "POST");
    await expectStatus("/?cmd=move&current=x&new=..%2Foutside%2Fsecret", 400, "POST");
  });

  it("refuses raw NUL, control and non-ASCII bytes in a target, and reads an absolute-form one by its path", async () => {
    const absolute = await RawConnection.open(server.port);
    absolute.send(Buffer.from(`GET http://127.0.0.1/absolute-x HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\n\r\n`, "latin1"));
    const res = await absolute.response();
    // RFC 9112 §3.2.2: a server accepts the absolute form; the reference reads its path (a name absent here).
    expect([res.status, res.reason]).toEqual([404, "absolute-x"]);
    absolute.close();
    for (const target of ["/a\x00b", "/a\x01b", "/caf\xe9"]) {
      const conn = await RawConnection.open(server.port);
      conn.send(Buffer.concat([Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT}\r\nAuthorization: ${AUTH}\r\n\r\n`, "latin1")]));
      const res = await conn.response();
      expect(res.status, JSON.stringify(target)).toBe(400);
      conn.close();
    }
  });

  it("answers overlong header lines with 431 and overlong targets with the reference's 414, and survives", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("GET", "/x", [H, A, Z, ["X-Junk", "j".repeat(100_000)]]));
    expect((await conn.response()).status).toBe(431);
    conn.close();
    const conn2 = await RawConnection.open(server.port);
    conn2.send(rawRequest("GET", `/${"a".repeat(100_000)}`, [H, A, Z]));
    // The request line over the limit: "414 Request-URI Too Long", as the reference answers it.
    expect((await conn2.response()).status).toBe(414);
    conn2.close();
    await expectStatus("/ok-after", 404);
  });

  it("checks Accept (406) before auth, and answers missing or wrong auth with 401 and WWW-Authenticate", async () => {
    expect((await request(server.port, "GET", "/x", { auth: false, headers: [] })).status).toBe(401);
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("GET", "/x", [H]));
    expect((await conn.response()).status).toBe(406);
    conn.close();
    for (const auth of ["Basic dGVzdHVzZXI6bm9wZQ==", "Basic !!!", "Bearer abc", "Basic dGVzdHVzZXI=", ""]) {
      const res = await request(server.port, "GET", "/x", { auth: false, headers: [["Authorization", auth]] });
      expect(res.status).toBe(401);
      expect(header(res, "WWW-Authenticate")).toBe('Basic realm="BorgStore REST Server"');
      expect(res.body.toString()).toBe("Unauthorized");
    }
  });

  it("keeps the connection in step after a 401 on a request with a body", async () => {
    const conn = await RawConnection.open(server.port);
    // The body looks like a request line: if it were not skipped, it would be parsed as one.
    conn.send(rawRequest("POST", "/x", [H, A, ["Content-Length", "18"]], "GET /evil HTTP/1.1"));
    const denied = await conn.response();
    expect(denied.status).toBe(401);
    conn.send(rawRequest("POST", "/?cmd=quota", [H, A, Z, ["Content-Length", "0"]]));
    const next = await conn.response();
    expect(next.status).toBe(200);
    expect(JSON.parse(next.body.toString())).toEqual({ limit: -1, usage: -1 });
    conn.close();
  });

  it("does not store a body shorter than its Content-Length, and leaves no temp file", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("POST", "/short", [H, A, Z, ["Content-Length", "100"]], "only-this"));
    await new Promise((r) => setTimeout(r, 200));
    conn.close();
    await new Promise((r) => setTimeout(r, 300));
    await expectStatus("/short", 404);
    expect(tree(store).filter((p) => p.endsWith(".tmp"))).toEqual([]);
  });

  it("stores exactly Content-Length bytes of a longer body and rejects the rest as a bad request", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("POST", "/long", [H, A, Z, ["Content-Length", "3"]], "abc"));
    expect((await conn.response()).status).toBe(200);
    conn.send("THIS IS NOT HTTP\r\n\r\n");
    expect((await conn.response()).status).toBe(400);
    expect(await conn.waitClosed()).toBe(true);
    expect((await request(server.port, "GET", "/long")).body.toString()).toBe("abc");
  });

  it("answers a store pipelined before garbage in the same packet with 200, then the garbage with 400, and keeps the object", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("POST", "/long2", [H, A, Z, ["Content-Length", "3"]], "abcTHIS IS NOT HTTP\r\n\r\n"));
    expect((await conn.response()).status).toBe(200);
    const refused = await conn.response();
    expect(refused.status).toBe(400);
    expect(refused.body.toString()).toContain("Bad request syntax");
    expect(await conn.waitClosed()).toBe(true);
    const res = await request(server.port, "GET", "/long2");
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("abc");
  });

  it("answers every complete request pipelined before malformed bytes, in order, then 400 and close", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(
      Buffer.concat([
        rawRequest("POST", "/pipe/a", [H, A, Z, ["Content-Length", "5"]], "first"),
        rawRequest("POST", "/pipe/b", [H, A, Z, ["Content-Length", "6"]], "second"),
        rawRequest("GET", "/pipe/a", [H, A, Z]),
        Buffer.from("GET /pipe/b HTTP/1.1\r\nBad Header Line\r\n\r\n"),
      ]),
    );
    expect((await conn.response()).status).toBe(200);
    expect((await conn.response()).status).toBe(200);
    expect((await conn.response()).body.toString()).toBe("first");
    expect((await conn.response()).status).toBe(400);
    expect(await conn.waitClosed()).toBe(true);
    expect((await request(server.port, "GET", "/pipe/b")).body.toString()).toBe("second");
  });

  it("refuses chunked uploads with 411 and stores nothing", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("POST", "/chunked", [H, A, Z, ["Transfer-Encoding", "chunked"]], "3\r\nabc\r\n0\r\n\r\n"));
    const res = await conn.response();
    expect(res.status).toBe(411);
    expect(header(res, "Connection")).toBe("close");
    conn.close();
    await expectStatus("/chunked", 404);
  });

  it("refuses an object over --max-object-size with 413 before reading it", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("POST", "/big", [H, A, Z, ["Content-Length", "1000001"]]));
    const res = await conn.response();
    expect(res.status).toBe(413);
    expect(await conn.waitClosed()).toBe(true);
    await expectStatus("/big", 404);
  });

  it("verifies X-Content-hash-sha256 before the object becomes visible (422, nothing stored)", async () => {
    const res = await request(server.port, "POST", "/hashed", {
      body: "data",
      headers: [["X-Content-hash-sha256", "0".repeat(64)]],
    });
    expect(res.status).toBe(422);
    expect(res.body.toString()).toBe("Content hash verification failed, please retry");
    await expectStatus("/hashed", 404);
  });

  it("verifies the hash of a streamed (large) upload before it becomes visible", async () => {
    const res = await request(server.port, "POST", "/hashed-big", {
      body: Buffer.alloc(900_000, 1),
      headers: [["X-Content-hash-sha256", "f".repeat(64)]],
    });
    expect(res.status).toBe(422);
    await expectStatus("/hashed-big", 404);
    expect(tree(store).filter((p) => p.endsWith(".tmp"))).toEqual([]);
  });

  it("closes connections of slow clients: unfinished headers and a stalled body (idle timeout)", async () => {
    const headersOnly = await RawConnection.open(server.port);
    headersOnly.send(`GET /x HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT}\r\n`);
    const stalled = await RawConnection.open(server.port);
    stalled.send(rawRequest("POST", "/stalled", [H, A, Z, ["Content-Length", "1000"]], "partial"));
    expect(await headersOnly.waitClosed(8000)).toBe(true);
    expect(await stalled.waitClosed(8000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    await expectStatus("/stalled", 404);
    expect(tree(store).filter((p) => p.endsWith(".tmp"))).toEqual([]);
  });

  it("never shows the storage path in an error (409 on create of a non-empty store)", async () => {
    expect((await request(server.port, "POST", "/something", { body: "x" })).status).toBe(200);
    const text = await expectStatus("/?cmd=create", 409, "POST");
    expect(text).toContain("[STORAGE_BASE]");
  });

  it("answers other methods with 501 without checking Accept or auth", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("PATCH", "/x", [H]));
    const res = await conn.response();
    expect(res.status).toBe(501);
    expect(res.body.toString()).toContain("Unsupported method ('PATCH')");
    conn.close();
  });

  it("is still alive and nothing outside the store changed", async () => {
    expect((await request(server.port, "POST", "/alive", { body: "yes" })).status).toBe(200);
    expect(tree(dir.path).filter((p) => !p.startsWith("store"))).toEqual(outsideBefore);
    expect(server.stderr()).not.toContain("request failed");
  });
});

describe("hostile large uploads (written while they arrive)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${store}`, "--create"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    dir.remove();
  });

  const statusOf = async (target: string) => (await request(server.port, "GET", target)).status;

  it("does not store a multi-MiB body cut off midway, though its first MiBs were already written, and leaves no temp file", async () => {
    const conn = await RawConnection.open(server.port);
    conn.send(rawRequest("POST", "/cut-big", [H, A, Z, ["Content-Length", String(6 * 1024 * 1024)]], ""));
    conn.send(Buffer.alloc(3 * 1024 * 1024, 7));
    await new Promise((r) => setTimeout(r, 300));
    conn.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(await statusOf("/cut-big")).toBe(404);
    expect(tree(store).filter((p) => p.endsWith(".tmp"))).toEqual([]);
  });

  it("verifies the hash of a multi-MiB upload, written while it arrived, before it becomes visible", async () => {
    const body = Buffer.alloc(5 * 1024 * 1024 + 123, 2);
    const res = await request(server.port, "POST", "/hashed-huge", { body, headers: [["X-Content-hash-sha256", "e".repeat(64)]] });
    expect(res.status).toBe(422);
    expect(await statusOf("/hashed-huge")).toBe(404);
    expect(tree(store).filter((p) => p.endsWith(".tmp"))).toEqual([]);
    const good = createHash("sha256").update(body).digest("hex");
    expect((await request(server.port, "POST", "/hashed-huge", { body, headers: [["X-Content-hash-sha256", good]] })).status).toBe(200);
    expect((await request(server.port, "GET", "/hashed-huge")).body.equals(body)).toBe(true);
  });
});
