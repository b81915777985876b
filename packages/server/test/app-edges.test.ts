import { PassThrough, Writable } from "node:stream";
import { type BufferLoadOptions, type ItemInfo, MemoryBackend } from "@borgstore/core";
import { afterEach, describe, expect, it } from "vitest";
import { Logger, RestServer, type RestServerOptions } from "../src/index.js";
import { ACCEPT, AUTH, RawConnection, header, rawRequest, singleHost } from "./helpers.js";

// The app's checks and error paths, on a RestServer in this process (fast; the CLI-level files
// hostile.test.ts and stdio.test.ts check the same end to end).
const H: [string, string][] = [
  ["Host", "127.0.0.1"],
  ["Accept", ACCEPT],
];

/** info() of "broken" fails with an error that is no borgstore error: a defect, answered 500. */
class BrokenInfo extends MemoryBackend {
  protected override async _info(name: string): Promise<ItemInfo> {
    if (name === "broken") throw new TypeError("boom");
    return super._info(name);
  }
}

/** A load of "slow" waits until `release` is called: a request in flight, for as long as a test needs. */
class HeldLoad extends MemoryBackend {
  release: () => void = () => {};
  loading: Promise<void>;
  #loading: () => void = () => {};
  constructor() {
    super();
    this.loading = new Promise((resolve) => {
      this.#loading = resolve;
    });
  }
  protected override async _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    if (name === "slow") {
      this.#loading();
      await new Promise<void>((resolve) => {
        this.release = resolve;
      });
    }
    return super._load(name, options);
  }
}

const running: RestServer[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.shutdown(100);
});

function logSink(): { out: Writable; log(): string } {
  let log = "";
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log += chunk.toString();
      done();
    },
  });
  return { out, log: () => log };
}

async function start(options: RestServerOptions = {}, backend: MemoryBackend = new MemoryBackend()) {
  await backend.create();
  const { out, log } = logSink();
  const server = new RestServer(backend, { logger: new Logger("debug", out), ...options });
  running.push(server);
  const { port } = await server.listenTcp(0, "127.0.0.1");
  return { port, log, server };
}

async function ask(port: number, method: string, target: string, headers: [string, string][] = H, body = "") {
  const conn = await RawConnection.open(port);
  try {
    const all: [string, string][] = body === "" && method !== "POST" ? headers : [...headers, ["Content-Length", String(body.length)]];
    conn.send(rawRequest(method, target, all, body));
    return await conn.response({ head: method === "HEAD" });
  } finally {
    conn.close();
  }
}

describe("the app's checks, in the reference's order", () => {
  it("answers a method it does not serve with 501 and the method's repr, before Accept and auth", async () => {
    const { port } = await start({ credentials: { username: "testuser", password: "testpass" } });
    const res = await ask(port, "PATCH", "/x", [["Host", "127.0.0.1"]]);
    expect(res.status).toBe(501);
    expect(res.reason).toBe("Unsupported method ('PATCH')");
    expect(res.body.toString()).toContain("Unsupported method ('PATCH')");
  });

  it("answers a missing or wrong Accept with 406 before auth", async () => {
    const { port } = await start({ credentials: { username: "testuser", password: "testpass" } });
    for (const headers of [[["Host", "127.0.0.1"]], [["Host", "127.0.0.1"], ["Accept", "application/json"]]] as [string, string][][]) {
      const res = await ask(port, "GET", "/x", headers);
      expect(res.status).toBe(406);
      expect(res.reason).toBe("Not Acceptable: unsupported or missing Accept header");
    }
  });

  it("reads a target with a leading run of slashes as one slash, as CPython does", async () => {
    const { port, server } = await start();
    await singleHost(server).use((b) => b.store("x", new Uint8Array([4, 2])));
    for (const target of ["/x", "//x", "///x"]) {
      const res = await ask(port, "GET", target);
      expect(res.status).toBe(200);
      expect([...res.body]).toEqual([4, 2]);
    }
  });

  it("checks method, Accept and credentials before the target: a backslash, an asterisk or an odd Host gets no earlier 400", async () => {
    const { port, server } = await start({ credentials: { username: "testuser", password: "testpass" } });
    await singleHost(server).use((b) => b.store("x", new Uint8Array([1])));
    const authorized: [string, string][] = [...H, ["Authorization", AUTH]];
    for (const target of ["/data\\x", "*", "/x"]) {
      expect((await ask(port, "PATCH", target, [["Host", "127.0.0.1"]])).status).toBe(501);
      expect((await ask(port, "GET", target, [["Host", "127.0.0.1"]])).status).toBe(406);
      expect((await ask(port, "GET", target)).status).toBe(401);
    }
    const backslash = await ask(port, "GET", "/data\\x", authorized);
    expect(backslash.status).toBe(400);
    expect(backslash.body.toString()).toContain("backslash");
    expect((await ask(port, "GET", "*", authorized)).status).toBe(400);
    // The reference never reads Host: neither do we (a stdio client sends none at all).
    for (const host of ["a b", "exa_mple:99999", "[::1"]) {
      const res = await ask(port, "GET", "/x", [["Host", host], ["Accept", ACCEPT], ["Authorization", AUTH]]);
      expect(res.status).toBe(200);
      expect([...res.body]).toEqual([1]);
    }
  });

  it("warns about a failed login only when the request sent a user name", async () => {
    const { port, log } = await start({ credentials: { username: "testuser", password: "testpass" } });
    expect((await ask(port, "GET", "/x")).status).toBe(401);
    expect(log()).not.toContain("failed login");
    const wrong = `Basic ${Buffer.from("testuser:nope").toString("base64")}`;
    expect((await ask(port, "GET", "/x", [...H, ["Authorization", wrong]])).status).toBe(401);
    expect(log()).toContain("failed login from 127.0.0.1 (a user name was given)");
    expect((await ask(port, "HEAD", "/x", [...H, ["Authorization", AUTH]])).status).toBe(404);
  });
});

describe("header lines and requests the parser refused", () => {
  it("answers more than 100 header lines with the reference's 431 Too many headers, and serves 100", async () => {
    const { port } = await start();
    const lines = (n: number): [string, string][] => [...H, ...Array.from({ length: n - H.length }, (_, i): [string, string] => [`X-Pad-${i}`, "1"])];
    const many = await ask(port, "GET", "/x", lines(101));
    expect(many.status).toBe(431);
    expect(many.reason).toBe("Too many headers");
    expect((await ask(port, "GET", "/x", lines(100))).status).toBe(404);
  });

  it("logs a request the parser refused with the peer's address, its status and reason", async () => {
    const { port, log } = await start();
    const conn = await RawConnection.open(port);
    try {
      conn.send(Buffer.from("GET /x HTTP/1.1\r\nBad Header\r\n\r\n", "latin1"));
      expect((await conn.response()).status).toBe(400);
    } finally {
      conn.close();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(log()).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "<refused>" 400 - \(Bad Request\)$/m);
  });
});

describe("shutdown", () => {
  it("answers a request in flight when the shutdown begins, and closes its connection after", async () => {
    const backend = new HeldLoad();
    const { port, server } = await start({}, backend);
    await singleHost(server).use((b) => b.store("slow", new Uint8Array([7])));
    const conn = await RawConnection.open(port);
    try {
      conn.send(rawRequest("GET", "/slow", H));
      await backend.loading;
      const stopped = server.shutdown(5000);
      backend.release();
      const res = await conn.response();
      expect(res.status).toBe(200);
      expect([...res.body]).toEqual([7]);
      expect(header(res, "Connection")).toBe("close");
      await stopped;
    } finally {
      conn.close();
    }
  });

  it("reports itself unhealthy once shutting down", async () => {
    const { server } = await start();
    expect(await server.health()).toEqual({ ok: true });
    await server.shutdown(100);
    expect(await server.health()).toEqual({ ok: false, reason: "shutting down" });
  });
});

describe("errors", () => {
  it("logs a defect (500) as an internal error, but not an error the protocol expects (404)", async () => {
    const { port, log } = await start({}, new BrokenInfo());
    expect((await ask(port, "HEAD", "/missing")).status).toBe(404);
    expect(log()).not.toContain("internal error");
    const res = await ask(port, "HEAD", "/broken");
    expect(res.status).toBe(500);
    expect(log()).toContain("internal error: TypeError: boom");
  });

  it("keeps a stdio session open after error answers (no Connection: close there)", async () => {
    const backend = new MemoryBackend();
    await backend.create();
    const { out } = logSink();
    const server = new RestServer(backend, { logger: new Logger("debug", out), stdio: true });
    const input = new PassThrough();
    const output = new PassThrough();
    const session = server.serveStreams(input, output);
    const conn = RawConnection.fromStreams(output, input);
    conn.send(rawRequest("GET", "/missing", [["Accept", ACCEPT]]));
    const missing = await conn.response();
    expect(missing.status).toBe(404);
    expect(header(missing, "Connection")).not.toBe("close");
    conn.send(rawRequest("GET", "/", [["Accept", "text/plain"]]));
    expect((await conn.response()).status).toBe(406);
    conn.send(rawRequest("POST", "/y", [["Accept", ACCEPT], ["Content-Length", "1"]], "z"));
    expect((await conn.response()).status).toBe(200);
    conn.send(rawRequest("GET", "/y", [["Accept", ACCEPT]]));
    expect([...(await conn.response()).body]).toEqual([0x7a]);
    input.end();
    await session;
    await server.shutdown(100);
  });

  it("closes the connection after an error answer over TCP", async () => {
    const { port } = await start();
    const res = await ask(port, "GET", "/missing");
    expect(res.status).toBe(404);
    expect(header(res, "Connection")).toBe("close");
  });
});
