import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACCEPT, CLI, RawConnection, header, rawRequest, tempDir } from "./helpers.js";

const A: [string, string] = ["Accept", ACCEPT];

function spawnStdio(storePath: string) {
  const child = spawn(process.execPath, [CLI, "--stdio", "--backend", `FILE:${storePath}`], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const conn = RawConnection.fromStreams(child.stdout, child.stdin);
  return { child, conn, exited, stderr: () => stderr };
}

describe("stdio mode (borgstore-server-rest --stdio, as the Python client spawns it)", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it("speaks HTTP/1.1 on stdin/stdout: create without Content-Length, store, list, HEAD; exits 0 on EOF", async () => {
    const store = join(dir.path, "s1");
    const { conn, exited, stderr, child } = spawnStdio(store);
    conn.send(rawRequest("POST", "/?cmd=create", [A]));
    expect((await conn.response()).status).toBe(200);

    conn.send(rawRequest("POST", "/item", [A, ["Content-Length", "5"]], "hello"));
    expect((await conn.response()).status).toBe(200);

    conn.send(rawRequest("GET", "/", [A]));
    const list = await conn.response();
    expect(list.status).toBe(200);
    expect(header(list, "Content-Type")).toBe("application/json");
    const entries = JSON.parse(list.body.toString());
    expect(entries).toEqual([{ name: "item", size: 5, directory: false, atime: expect.any(Number) }]);
    expect(entries[0].atime).toBeGreaterThan(0);

    conn.send(rawRequest("HEAD", "/item", [A]));
    const info = await conn.response({ head: true });
    expect(info.status).toBe(200);
    // The Python stdio test reads these names case-sensitively.
    const names = info.headers.map(([k]) => k);
    expect(names).toEqual(expect.arrayContaining(["Content-Length", "X-BorgStore-Is-Directory", "X-BorgStore-Atime"]));
    expect(header(info, "Content-Length")).toBe("5");
    expect(header(info, "X-BorgStore-Is-Directory")).toBe("false");
    expect(Number(header(info, "X-BorgStore-Atime"))).toBeGreaterThan(0);

    conn.send(rawRequest("HEAD", "/missing", [A]));
    const missing = await conn.response({ head: true });
    expect(missing.status).toBe(404);
    expect(missing.body.length).toBe(0);

    child.stdin.end();
    expect(await exited).toBe(0);
    expect(stderr()).toContain('stdio-client - - [');
    expect(stderr()).toContain('"HEAD /missing HTTP/1.1" 404 -');
  });

  it("keeps serving after error responses (404, 400, 406, 501) on the same stream", async () => {
    const store = join(dir.path, "s2");
    const { conn, exited, child } = spawnStdio(store);
    conn.send(rawRequest("POST", "/?cmd=create", [A]));
    expect((await conn.response()).status).toBe(200);
    conn.send(rawRequest("GET", "/nothing", [A]));
    const notFound = await conn.response();
    expect(notFound.status).toBe(404);
    expect(notFound.body.toString()).toContain("<p>Message: nothing.</p>");
    conn.send(rawRequest("GET", "/UPPER", [A]));
    expect((await conn.response()).status).toBe(400);
    conn.send(rawRequest("GET", "/x", []));
    expect((await conn.response()).status).toBe(406);
    conn.send(rawRequest("PUT", "/x", [A, ["Content-Length", "1"]], "x"));
    expect((await conn.response()).status).toBe(501);
    // An error before the body was read: the body must not be taken for the next request.
    conn.send(rawRequest("POST", "/UPPER", [A, ["Content-Length", "4"]], "GET "));
    expect((await conn.response()).status).toBe(400);
    conn.send(rawRequest("POST", "/after", [A, ["Content-Length", "2"]], "ok"));
    expect((await conn.response()).status).toBe(200);
    conn.send(rawRequest("GET", "/after", [A]));
    const loaded = await conn.response();
    expect(loaded.body.toString()).toBe("ok");
    child.stdin.end();
    expect(await exited).toBe(0);
  });

  it("answers pipelined requests in order, each after the one before it", async () => {
    const store = join(dir.path, "s3");
    const { conn, exited, child } = spawnStdio(store);
    conn.send(
      Buffer.concat([
        rawRequest("POST", "/?cmd=create", [A]),
        rawRequest("POST", "/a", [A, ["Content-Length", "3"]], "abc"),
        rawRequest("HEAD", "/a", [A]),
        rawRequest("GET", "/a", [A]),
      ]),
    );
    child.stdin.end();
    expect((await conn.response()).status).toBe(200);
    expect((await conn.response()).status).toBe(200);
    expect((await conn.response({ head: true })).status).toBe(200);
    expect((await conn.response()).body.toString()).toBe("abc");
    expect(await exited).toBe(0);
    expect(readdirSync(store)).toEqual(["a"]);
  });

  it("answers a store pipelined before garbage with 200, then 400, keeps the object and reads on, as the reference does", async () => {
    const store = join(dir.path, "s-garbage");
    const { conn, exited } = spawnStdio(store);
    conn.send(
      Buffer.concat([
        rawRequest("POST", "/?cmd=create", [A]),
        rawRequest("POST", "/kept", [A, ["Content-Length", "5"]], "hello"),
        Buffer.from("THIS IS NOT HTTP\r\n\r\n"),
        rawRequest("GET", "/kept", [A]),
      ]),
    );
    expect((await conn.response()).status).toBe(200);
    expect((await conn.response()).status).toBe(200);
    const refused = await conn.response();
    expect([refused.status, refused.reason]).toEqual([400, "Bad Request"]);
    // The one stream goes on behind the refused line (which is not a request with headers).
    const after = await conn.response();
    expect([after.status, after.body.toString()]).toEqual([200, "hello"]);
    conn.close();
    expect(await exited).toBe(0);
    expect(readdirSync(store)).toEqual(["kept"]);
    expect(readFileSync(join(store, "kept"), "utf8")).toBe("hello");
  });

  it("ignores SIGINT (Ctrl-C in the client's terminal) and keeps serving until EOF", async () => {
    const { conn, exited, child } = spawnStdio(join(dir.path, "s4"));
    conn.send(rawRequest("POST", "/?cmd=create", [A]));
    expect((await conn.response()).status).toBe(200);
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    conn.send(rawRequest("GET", "/", [A]));
    expect((await conn.response()).status).toBe(200);
    child.stdin.end();
    expect(await exited).toBe(0);
  });

  it("exits 0 at once on EOF without any request", async () => {
    const { exited, child } = spawnStdio(join(dir.path, "never"));
    child.stdin.end();
    expect(await exited).toBe(0);
  });
});
