import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RawResponse, type RunningServer, header, request, startInProcess, tempDir } from "./helpers.js";

/** The reference's server tests (test_server_rest.py) over raw HTTP against our CLI. */
describe("REST operations as the reference's server tests exercise them", () => {
  const dir = tempDir();
  let server: RunningServer;
  const text = (r: RawResponse) => r.body.toString();
  const req = (method: string, target: string, body?: string, headers: [string, string][] = []) =>
    request(server.port, method, target, { body, headers });

  beforeAll(async () => {
    server = await startInProcess(
      ["--backend", `FILE:${dir.path}/store`, "--quota", "100000", "--permissions", JSON.stringify({ "": "lrwWD", readonly: "lr" })],
      { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" },
    );
    expect((await req("POST", "/?cmd=create")).status).toBe(200);
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("loads ranges: 206 whenever Range was sent, short or empty past the end, whole for junk, with Content-Range of the value read", async () => {
    expect((await req("POST", "/r/item", "hello world")).status).toBe(200);
    const cases: [string, string, string][] = [
      ["bytes=0-4", "hello", "bytes 0-4/11"],
      ["bytes=6-", "world", "bytes 6-10/11"],
      ["bytes=-5", "world", "bytes 6-10/11"],
      ["bytes=6-100", "world", "bytes 6-10/11"],
      ["bytes=50-", "", "bytes */11"],
      ["bytes=5-4", "", "bytes */11"],
      ["bytes=0--1", "hello world", "bytes 0-10/11"],
      ["bytes=junk", "hello world", "bytes 0-10/11"],
      ["bytes=-30", "hello world", "bytes 0-10/11"],
    ];
    for (const [range, expected, contentRange] of cases) {
      const res = await req("GET", "/r/item", undefined, [["Range", range]]);
      expect(res.status, range).toBe(206);
      expect(text(res), range).toBe(expected);
      expect(header(res, "Content-Type")).toBe("application/octet-stream");
      expect(header(res, "Content-Range"), range).toBe(contentRange);
    }
    const whole = await req("GET", "/r/item");
    expect(whole.status).toBe(200);
    expect(header(whole, "Content-Range")).toBeUndefined();
  });

  it("hashes server-side (sha256, blake3 known vector) and refuses unknown algorithms with 400", async () => {
    expect((await req("POST", "/h/x", "hash me")).status).toBe(200);
    const blake3 = await req("POST", "/h/x?cmd=hash&algorithm=blake3");
    expect(text(blake3)).toBe("e02b7e4520e277d4ef287f09c74fec4dd1df095b8b41a4d61dd4ed1589c4a281");
    expect(header(blake3, "Content-Type")).toBe("text/plain");
    const bogus = await req("POST", "/h/x?cmd=hash&algorithm=bogus");
    expect(bogus.status).toBe(400);
    expect(text(bogus)).toContain("Unsupported hash algorithm: bogus");
    expect((await req("POST", "/?cmd=hash")).status).toBe(400);
    expect((await req("POST", "/h/missing?cmd=hash")).status).toBe(404);
  });

  it("defrags: explicit target, empty source list, algorithm+namespace+levels, and its 400s", async () => {
    expect((await req("POST", "/d/a", "hello")).status).toBe(200);
    const target = await req("POST", "/?cmd=defrag&target=d%2Ft", '[["d/a", 1, 3]]');
    expect(text(target)).toBe("d/t");
    expect(header(target, "Content-Type")).toBe("text/plain");
    expect(text(await req("GET", "/d/t"))).toBe("ell");
    expect(text(await req("POST", "/?cmd=defrag&target=d%2Fempty", "[]"))).toBe("d/empty");
    expect((await req("GET", "/d/empty")).body.length).toBe(0);
    const nested = await req("POST", "/?cmd=defrag&algorithm=sha256&namespace=ns&levels=2", '[["d/a", 0, 5]]');
    expect(text(nested)).toBe("ns/2c/f2/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    expect(text(await req("POST", "/?cmd=defrag&target=d%2Fx&algorithm=sha256", '[["d/a", 0, 1]]'))).toBe("d/x");
    const missing = await req("POST", "/?cmd=defrag", "[]");
    expect(missing.status).toBe(400);
    expect(text(missing)).toContain("Missing target or algorithm for defrag");
    expect((await req("POST", "/?cmd=defrag&target=d%2Fy", "not json")).status).toBe(400);
    expect((await req("POST", "/?cmd=defrag&target=d%2Fy&levels=two", "[]")).status).toBe(400);
    const short = await req("POST", "/?cmd=defrag&target=d%2Fy", '[["d/a", 0, 20]]');
    expect(short.status).toBe(416);
    expect(text(short)).toContain("Read range error from d/a (requested 20 bytes at offset 0, got 5)");
  });

  it("moves to a .del name and back; a missing source is 404", async () => {
    expect((await req("POST", "/m/x", "v")).status).toBe(200);
    expect((await req("POST", "/?cmd=move&current=m%2Fx&new=m%2Fx.del")).status).toBe(200);
    expect((await req("GET", "/m/x")).status).toBe(404);
    expect((await req("POST", "/?cmd=move&current=m%2Fx.del&new=m%2Fx")).status).toBe(200);
    expect(text(await req("GET", "/m/x"))).toBe("v");
    expect(text(await req("POST", "/?cmd=move&current=m%2Fx"))).toContain("Missing current or new name for move");
  });

  it("does mkdir, rmdir and info of directories and the root", async () => {
    expect((await req("POST", "/dir/sub?cmd=mkdir")).status).toBe(200);
    const info = await req("HEAD", "/dir/sub");
    expect(header(info, "X-BorgStore-Is-Directory")).toBe("true");
    const root = await req("HEAD", "/");
    expect(root.status).toBe(200);
    expect(header(root, "X-BorgStore-Is-Directory")).toBe("true");
    expect(text(await req("GET", "/dir/"))).toContain('"name": "sub"');
    expect((await req("DELETE", "/dir?cmd=rmdir")).status).toBe(500);
    expect((await req("DELETE", "/dir/sub?cmd=rmdir")).status).toBe(200);
    expect((await req("HEAD", "/dir/sub")).status).toBe(404);
    expect((await req("DELETE", "/")).status).toBe(400);
  });

  it("enforces permissions: a read-only prefix can be read and listed but not written or deleted (403)", async () => {
    // Put there behind the server's back: through the server, nothing may write it.
    mkdirSync(join(dir.path, "store", "readonly"));
    writeFileSync(join(dir.path, "store", "readonly", "x"), "read me");
    expect((await req("POST", "/readonly/x", "x")).status).toBe(403);
    expect((await req("POST", "/readonly/new", "x")).status).toBe(403);
    expect((await req("DELETE", "/readonly/x")).status).toBe(403);
    const loaded = await req("GET", "/readonly/x");
    expect(loaded.status).toBe(200);
    expect(text(loaded)).toBe("read me");
    const listed = await req("GET", "/readonly/");
    expect(listed.status).toBe(200);
    expect(JSON.parse(text(listed)).map((item: { name: string }) => item.name)).toEqual(["x"]);
  });

  it("enforces the quota (507) and keeps the original intact; a smaller overwrite or a delete makes room", async () => {
    const before = JSON.parse(text(await req("POST", "/?cmd=quota")));
    expect(before.limit).toBe(100000);
    const room = 100000 - before.usage;
    expect((await req("POST", "/q/a", "a".repeat(room - 1000))).status).toBe(200);
    const over = await req("POST", "/q/b", "b".repeat(2000));
    expect(over.status).toBe(507);
    expect(text(over)).toContain("Quota exceeded");
    expect((await req("GET", "/q/b")).status).toBe(404);
    expect((await req("POST", "/q/a", "c".repeat(2000))).status).toBe(200);
    expect((await req("POST", "/q/b", "b".repeat(2000))).status).toBe(200);
    expect((await req("DELETE", "/q/b")).status).toBe(200);
    expect((await req("POST", "/q/c", "c".repeat(2000))).status).toBe(200);
  });

  it("stores the body for an unknown cmd on a name, as the reference does", async () => {
    expect((await req("POST", "/u/x?cmd=bogus", "x")).status).toBe(200);
    expect(text(await req("GET", "/u/x"))).toBe("x");
  });
});

describe("ranged GET of a streamed value", () => {
  const dir = tempDir();
  let server: RunningServer;
  beforeAll(async () => {
    // No budget: every value over 64 KiB streams.
    server = await startInProcess(["--backend", `FILE:${dir.path}/store`, "--create", "--memory-budget", "0"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("carries Content-Range with the total of the value it streams from", async () => {
    const value = Buffer.alloc(300_007, 7);
    expect((await request(server.port, "POST", "/big", { body: value })).status).toBe(200);
    const res = await request(server.port, "GET", "/big", { headers: [["Range", "bytes=-200000"]] });
    expect(res.status).toBe(206);
    expect(res.body.byteLength).toBe(200_000);
    expect(header(res, "Content-Range")).toBe(`bytes 100007-300006/${value.byteLength}`);
  });
});
