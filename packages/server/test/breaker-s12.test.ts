/**
 * Breaker session 12: requests carrying `Upgrade:` re-fed to a fresh parser, the 501's method
 * naming, 414 for an over-long request line (TCP and stdio). Real processes only: dist/cli.js and,
 * where compared, the unmodified Python reference server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, "../dist/cli.js");
const REPO = resolve(here, "../../..");
const REFERENCE_SRC = [resolve(REPO, "../shared/reference/borgstore-0.6.0/src"), "/work/shared/reference/borgstore-0.6.0/src"].find((dir) =>
  existsSync(join(dir, "borgstore/server/rest.py")),
);

/** Tests against the reference run where it is; under CI its absence fails them instead of skipping. */
const HAVE_REFERENCE = REFERENCE_SRC !== undefined || process.env.CI === "true";

const ACCEPT = "Accept: application/vnd.x.borgstore.rest.v1\r\n";
const AUTH = `Authorization: Basic ${Buffer.from("u:p").toString("base64")}\r\n`;
const UPGRADE = "Upgrade: h2c\r\nConnection: Upgrade\r\n";

function request(method: string, path: string, opts: { body?: Buffer | string; extra?: string; length?: boolean; auth?: boolean } = {}): Buffer {
  const body = typeof opts.body === "string" || opts.body === undefined ? Buffer.from(opts.body ?? "", "latin1") : opts.body;
  const length = opts.length ?? (method !== "GET" && method !== "HEAD");
  const head =
    `${method} ${path} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${opts.auth === false ? "" : AUTH}${opts.extra ?? ""}` +
    (length ? `Content-Length: ${body.length}\r\n` : "") +
    "\r\n";
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "breaker-s12-"));
  temps.push(dir);
  return dir;
}

interface Served {
  port: number;
  child: ChildProcess;
  stderr: () => string;
  store: string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function waitForLine(child: ChildProcess, pattern: RegExp, output: () => string): Promise<RegExpMatchArray> {
  return new Promise((resolvePort, reject) => {
    const check = () => {
      const match = output().match(pattern);
      if (match) {
        resolvePort(match);
        return true;
      }
      return false;
    };
    const onData = () => {
      if (check()) {
        child.stdout?.off("data", onData);
        child.stderr?.off("data", onData);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", () => reject(new Error(`exited before ready: ${output()}`)));
    setTimeout(() => reject(new Error(`not ready: ${output()}`)), 15_000).unref();
  });
}

/** Our CLI on a posixfs store with --username u --password p, on a free port. */
async function startOurs(args: string[] = []): Promise<Served> {
  const store = join(tempDir(), "store");
  const child = spawn(process.execPath, [CLI, "--port", "0", "--backend", `file://${store}`, "--username", "u", "--password", "p", "--create", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const match = await waitForLine(child, /serving \S+ on https?:\/\/127\.0\.0\.1:(\d+)\//, () => out);
  return { port: Number(match[1]), child, stderr: () => out, store, exited };
}

function freePort(): Promise<number> {
  return new Promise((res) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => res(port));
    });
  });
}

/** The unmodified Python reference server on a created posixfs store, same credentials. */
async function startReference(): Promise<Served> {
  if (!REFERENCE_SRC) throw new Error("the Python reference is not available (../shared/reference)");
  const store = join(tempDir(), "store");
  const port = await freePort();
  const child = spawn(
    "python3",
    ["-m", "borgstore.server.rest", "--host", "127.0.0.1", "--port", String(port), "--backend", `file://${store}`, "--username", "u", "--password", "p"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONPATH: REFERENCE_SRC, PYTHONUNBUFFERED: "1" } },
  );
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  await waitForLine(child, /listening on/, () => out);
  const created = await exchange(port, request("POST", "/?cmd=create"));
  expect(statusLines(created)[0]).toBe("HTTP/1.1 200 OK");
  return { port, child, stderr: () => out, store, exited };
}

/** Sends `bytes` on a fresh connection; returns all received until the server closes or `quietMs` pass without a byte. */
function exchange(port: number, bytes: Buffer, quietMs = 1_000): Promise<Buffer> {
  return new Promise((res) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    let timer = setTimeout(() => socket.destroy(), quietMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), quietMs);
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      res(Buffer.concat(chunks));
    });
  });
}

function statusLines(answer: Buffer): string[] {
  // At the start or after a line end: an error page's body ends in a bare LF.
  return [...answer.toString("latin1").matchAll(/(?:^|\n)(HTTP\/1\.[01] \d{3}[^\r\n]*)/g)].map((match) => match[1] as string);
}

/** The body of a GET of `name` (undefined unless 200). */
async function load(port: number, name: string): Promise<string | undefined> {
  const answer = (await exchange(port, request("GET", `/${name}`, { extra: "Connection: close\r\n" }))).toString("latin1");
  if (!answer.startsWith("HTTP/1.1 200 ")) return undefined;
  return answer.slice(answer.indexOf("\r\n\r\n") + 4);
}

async function stop(served: Served): Promise<void> {
  if (served.child.exitCode === null && served.child.signalCode === null) served.child.kill("SIGKILL");
  await served.exited;
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** `count` header lines that mean nothing. */
function manyHeaders(count: number): string {
  let lines = "";
  for (let i = 0; i < count; i++) lines += `x-pad-${i}: v\r\n`;
  return lines;
}

/**
 * Stores a large object, then on one connection: a GET of it (its answer left unread, so it
 * stays in flight) and an Upgrade request behind it, which waits for that answer; then the client
 * resets the connection.
 */
async function resetWhileUpgradeWaits(port: number): Promise<void> {
  const size = 16 * 1024 * 1024;
  const stored = await exchange(port, request("POST", "/big", { body: Buffer.alloc(size, 0x61), extra: "Connection: close\r\n" }), 5_000);
  expect(statusLines(stored)[0]).toBe("HTTP/1.1 200 OK");
  await new Promise<void>((res) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(Buffer.concat([request("GET", "/big"), request("HEAD", "/big", { extra: UPGRADE })]));
      socket.pause();
      setTimeout(() => {
        socket.resetAndDestroy();
        res();
      }, 700);
    });
    socket.on("error", () => undefined);
  });
  await new Promise((r) => setTimeout(r, 700));
}

describe("Upgrade request while the answers before it are out: connection reset", () => {
  // FINDING: HIGH: a client that resets its connection while an Upgrade request waits for the
  // answers before it crashes the whole server: Node removed its socket 'error' listener when it
  // handed the Upgrade request over, and nothing else listens until #startHttp, so the
  // ECONNRESET is an unhandled 'error' event ("Unhandled 'error' event ... read ECONNRESET") and
  // the process exits, dropping every other client's connections and requests. Any client that
  // may read one object (any tenant in hosting mode, anyone with --no-auth) can do it at will.
  // Reproduction: GET /big (16 MiB, unread) + `HEAD /big` with `Upgrade: h2c`/`Connection:
  // Upgrade` pipelined on one connection, then RST. The reference (a thread per connection)
  // stays up (test below).
  // fixed: an 'error' listener of ours stands in on the socket until the request is handed to a fresh parser (server.ts #serveUpgradeRequest; #answerLast for CONNECT too).
  it("ours: the server survives a reset while an Upgrade request waits behind an unread answer", async () => {
    const ours = await startOurs();
    await resetWhileUpgradeWaits(ours.port);
    expect(ours.stderr()).not.toMatch(/Unhandled 'error' event/);
    const answer = await exchange(ours.port, request("HEAD", "/big"));
    expect(statusLines(answer)[0]).toBe("HTTP/1.1 200 OK");
    await stop(ours);
  }, 40_000);

  it.runIf(HAVE_REFERENCE)("reference: the same bytes and reset leave the server serving", async () => {
    const ref = await startReference();
    await resetWhileUpgradeWaits(ref.port);
    const answer = await exchange(ref.port, request("HEAD", "/big"));
    expect(statusLines(answer)[0]).toBe("HTTP/1.1 200 OK");
    await stop(ref);
  }, 40_000);

  it("held: over TLS the same reset does not crash the server", async () => {
    const dir = tempDir();
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    const made = spawn("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"], {
      stdio: "ignore",
    });
    await new Promise((r) => made.once("exit", r));
    const ours = await startOurs(["--tls-cert", cert, "--tls-key", key]);
    const tls = await import("node:tls");
    const connect = () => tls.connect({ port: ours.port, host: "127.0.0.1", rejectUnauthorized: false });
    const talk = (bytes: Buffer, quietMs: number) =>
      new Promise<string>((res) => {
        const socket = connect();
        let out = "";
        let timer: NodeJS.Timeout | undefined;
        socket.on("secureConnect", () => socket.write(bytes));
        socket.on("data", (d: Buffer) => {
          out += d.toString("latin1");
          clearTimeout(timer);
          timer = setTimeout(() => socket.destroy(), quietMs);
        });
        socket.on("error", () => undefined);
        socket.on("close", () => res(out));
      });
    expect(await talk(request("POST", "/big", { body: Buffer.alloc(4 * 1024 * 1024, 0x61) }), 1_000)).toMatch(/^HTTP\/1\.1 200 OK/);
    await new Promise<void>((res) => {
      const socket = connect();
      socket.on("secureConnect", () => {
        socket.write(Buffer.concat([request("GET", "/big"), request("HEAD", "/big", { extra: UPGRADE })]));
        socket.pause();
        setTimeout(() => {
          (socket as unknown as { _parent?: net.Socket })._parent?.resetAndDestroy();
          socket.destroy();
          res();
        }, 700);
      });
      socket.on("error", () => undefined);
    });
    await new Promise((r) => setTimeout(r, 700));
    expect(ours.stderr()).not.toMatch(/Unhandled 'error' event/);
    expect(await talk(request("HEAD", "/big"), 500)).toMatch(/^HTTP\/1\.1 200 OK/);
    await stop(ours);
  }, 40_000);
});

/** Hosting mode (--config) with one htpasswd login alice:pw (bcrypt cost 12: each wrong password takes a while). */
async function startHosting(): Promise<Served> {
  const dir = tempDir();
  const bcrypt = (await import("bcryptjs")).default;
  writeFileSync(join(dir, "htpasswd"), `alice:${bcrypt.hashSync("pw", 12)}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, "config.toml"),
    `htpasswd = "htpasswd"\n[listen]\nhost = "127.0.0.1"\nport = 0\n[repositories]\nbackend = "file://${dir}/data/{user}/{repo}"\nauto_create = true\n`,
  );
  const child = spawn(process.execPath, [CLI, "--config", join(dir, "config.toml")], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const match = await waitForLine(child, / on https?:\/\/127\.0\.0\.1:(\d+)\//, () => out);
  return { port: Number(match[1]), child, stderr: () => out, store: join(dir, "data"), exited };
}

const ALICE = `Authorization: Basic ${Buffer.from("alice:pw").toString("base64")}\r\n`;

function hostingRequest(method: string, path: string, authorization: string, extra = "", body = ""): string {
  return `${method} ${path} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${authorization}${extra}Content-Length: ${body.length}\r\n\r\n${body}`;
}

describe("hosting mode: a reset while an Upgrade request waits", () => {
  // FINDING: HIGH: the same crash in hosting mode takes down every user's repositories, and there
  // it needs no login at all: wrong passwords are checked by bcrypt in worker threads, so the
  // 401s of a few pipelined requests with wrong passwords take a while; an Upgrade request behind
  // them waits for those answers, and a reset then kills the process (unhandled ECONNRESET).
  // Reproduction: 40 x `HEAD /alice/repo/x` with wrong passwords + one with `Upgrade: h2c` /
  // `Connection: Upgrade` on one connection, RST after 500 ms.
  // fixed: the same listener (hosting mode uses the same RestServer).
  it("ours: the hosting server survives an unauthenticated client that resets behind an Upgrade request", async () => {
    const host = await startHosting();
    let requests = "";
    for (let i = 0; i < 40; i++) requests += hostingRequest("HEAD", "/alice/repo/x", `Authorization: Basic ${Buffer.from(`alice:wrong${i}`).toString("base64")}\r\n`);
    requests += hostingRequest("HEAD", "/alice/repo/x", `Authorization: Basic ${Buffer.from("alice:wrong").toString("base64")}\r\n`, UPGRADE);
    await new Promise<void>((res) => {
      const socket = net.connect(host.port, "127.0.0.1", () => {
        socket.write(requests);
        setTimeout(() => {
          socket.resetAndDestroy();
          res();
        }, 500);
      });
      socket.on("error", () => undefined);
    });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(host.stderr()).not.toMatch(/Unhandled 'error' event/);
    const answer = await exchange(host.port, Buffer.from(hostingRequest("POST", "/alice/repo/?cmd=create", ALICE)), 3_000);
    expect(statusLines(answer)[0]).toBe("HTTP/1.1 200 OK");
    await stop(host);
  }, 60_000);
});

/**
 * On one connection: a GET of `name` (`size` bytes), then `HEAD /name` carrying an Upgrade
 * header; the client reads at full speed. Resolves with the bytes received within `withinMs`.
 */
function loadThenUpgrade(port: number, name: string, withinMs: number, onOpen?: () => void): Promise<Buffer> {
  return new Promise((res) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(Buffer.concat([request("GET", `/${name}`), request("HEAD", `/${name}`, { extra: UPGRADE })]));
      onOpen?.();
    });
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => undefined);
    const timer = setTimeout(() => socket.destroy(), withinMs);
    socket.on("close", () => {
      clearTimeout(timer);
      res(Buffer.concat(chunks));
    });
  });
}

const LARGE = 20 * 1024 * 1024;

/**
 * A stdio session of ours or of the reference: a store of `LARGE` bytes, its load, then `HEAD`
 * carrying an Upgrade header; stdin stays open (as a client's does while it waits). Resolves with
 * the bytes on stdout after `withinMs`.
 */
async function stdioLoadThenUpgrade(which: "ours" | "ref", withinMs: number): Promise<Buffer> {
  const store = join(tempDir(), "store");
  if (which === "ref") await stdioSession("ref", store, stdioRequest("POST", "/?cmd=create"));
  const child =
    which === "ours"
      ? spawn(process.execPath, [CLI, "--stdio", "--backend", `file://${store}`, "--create"], { stdio: ["pipe", "pipe", "pipe"] })
      : spawn("python3", ["-m", "borgstore.server.rest", "--stdio", "--backend", `file://${store}`], {
          stdio: ["pipe", "pipe", "pipe"],
          env: { ...process.env, PYTHONPATH: REFERENCE_SRC ?? "" },
        });
  children.push(child);
  const chunks: Buffer[] = [];
  child.stdout?.on("data", (d: Buffer) => chunks.push(d));
  child.stderr?.resume();
  child.stdin?.on("error", () => undefined);
  child.stdin?.write(
    Buffer.concat([
      Buffer.from(`POST /big HTTP/1.1\r\n${ACCEPT}Content-Length: ${LARGE}\r\n\r\n`),
      Buffer.alloc(LARGE, 0x62),
      stdioRequest("GET", "/big"),
      Buffer.from(`HEAD /big HTTP/1.1\r\n${ACCEPT}${UPGRADE}\r\n`),
    ]),
  );
  await new Promise((r) => setTimeout(r, withinMs));
  child.stdin?.end();
  child.kill("SIGKILL");
  return Buffer.concat(chunks);
}

describe("a large load answered before an Upgrade request", () => {
  // FINDING: HIGH: a load of an object over 16 MiB (streamed with backpressure) followed on its
  // connection by a request carrying `Upgrade:` stalls after ~1 MiB: when Node hands the Upgrade
  // request over it removes its own socket listeners, among them the 'drain' relay that resumes
  // the response being written (socketOnDrain -> res 'drain'). The load waits for a 'drain' that
  // never comes, the Upgrade request waits for the load: the answer hangs until the idle timeout
  // or --min-rate cut the connection (the client gets a truncated load). Same for the answer
  // before any Upgrade request, e.g. `curl --http2` reusing a connection.
  // Reproduction: store 20 MiB as /big; `GET /big` + `HEAD /big` with Upgrade: h2c/Connection:
  // Upgrade on one connection, read everything: ours 1 048 870 bytes in 8 s, the reference the
  // whole 20 MiB and the HEAD's answer at once.
  // fixed: while the request waits, a 'drain' listener of ours relays the socket's drain to the answer being written, as Node's own did (relayDrain in server.ts).
  it("ours: the load and the Upgrade request behind it are both answered", async () => {
    const ours = await startOurs();
    expect(statusLines(await exchange(ours.port, request("POST", "/big", { body: Buffer.alloc(LARGE, 0x62) }), 5_000))[0]).toBe("HTTP/1.1 200 OK");
    const received = await loadThenUpgrade(ours.port, "big", 8_000);
    expect(received.length).toBeGreaterThan(LARGE);
    expect(statusLines(received.subarray(received.indexOf("\r\n\r\n") + 4 + LARGE))).toEqual(["HTTP/1.1 200 OK"]);
    await stop(ours);
  }, 40_000);

  it.runIf(HAVE_REFERENCE)("reference: the same load and the Upgrade request are both answered", async () => {
    const ref = await startReference();
    expect(statusLines(await exchange(ref.port, request("POST", "/big", { body: Buffer.alloc(LARGE, 0x62) }), 5_000))[0]).toBe("HTTP/1.1 200 OK");
    const received = await loadThenUpgrade(ref.port, "big", 8_000);
    expect(received.length).toBeGreaterThan(LARGE);
    expect(statusLines(received.subarray(received.indexOf("\r\n\r\n") + 4 + LARGE))).toEqual(["HTTP/1.1 200 OK"]);
    await stop(ref);
  }, 40_000);

  // FINDING: HIGH (same cause, over --stdio): there is no idle timeout or rate guard on a stdio
  // session, so the stalled load hangs for good while the client waits (stdin open): a borg-style
  // `rest://` client that sent one Upgrade header after a large load never gets its data.
  // Reproduction: stdin = store 20 MiB as /big, `GET /big`, `HEAD /big` with Upgrade, stdin kept
  // open: ours writes ~1 MiB and nothing more; the reference writes all of it and the HEAD's answer.
  // fixed: the same relay on the session's connection.
  it("ours over stdio: the load and the Upgrade request behind it are answered while stdin stays open", async () => {
    const out = await stdioLoadThenUpgrade("ours", 8_000);
    expect(out.length).toBeGreaterThan(LARGE);
  }, 40_000);

  it.runIf(HAVE_REFERENCE)("reference over stdio: the same bytes are all answered", async () => {
    const out = await stdioLoadThenUpgrade("ref", 8_000);
    expect(out.length).toBeGreaterThan(LARGE);
    expect(out.toString("latin1")).toMatch(/HTTP\/1\.1 200 OK\r\n(?:[^\r]+\r\n)*\r\n$/);
  }, 40_000);

  it("held: the same load with 16 MB (written whole) and the Upgrade request behind it are answered", async () => {
    const ours = await startOurs();
    const size = 16_000_000;
    expect(statusLines(await exchange(ours.port, request("POST", "/mid", { body: Buffer.alloc(size, 0x62) }), 5_000))[0]).toBe("HTTP/1.1 200 OK");
    const received = await loadThenUpgrade(ours.port, "mid", 8_000);
    expect(received.length).toBeGreaterThan(size);
    await stop(ours);
  }, 40_000);

  // FINDING: LOW (same missing listeners): SIGTERM while such a connection waits ends, after
  // --shutdown-timeout, in a crash rather than the orderly exit: the shutdown aborts the stalled
  // connection with an AbortError that nobody listens for ("Unhandled 'error' event ...
  // AbortError: The operation was aborted ... the server is shutting down").
  // fixed: the load no longer stalls, and a wait cut by the shutdown destroys the connection instead of rejecting unhandled.
  it("ours: SIGTERM with a load waiting before an Upgrade request exits without an unhandled error", async () => {
    const ours = await startOurs(["--shutdown-timeout", "2"]);
    expect(statusLines(await exchange(ours.port, request("POST", "/big", { body: Buffer.alloc(LARGE, 0x62) }), 5_000))[0]).toBe("HTTP/1.1 200 OK");
    const load = loadThenUpgrade(ours.port, "big", 10_000, () => setTimeout(() => ours.child.kill("SIGTERM"), 500));
    await ours.exited;
    await load;
    expect(ours.stderr()).not.toMatch(/Unhandled 'error' event/);
  }, 40_000);
});

describe("Upgrade request with many header lines: the rebuilt head loses headers", () => {
  // FINDING: HIGH: Node caps req.rawHeaders (~1000 header pairs; its maxHeadersCount) while its
  // C parser still framed the request by all of them. headWithoutUpgrade rebuilds the head from
  // req.rawHeaders, so a Content-Length past the cap is dropped: the fresh parser reads the store
  // as bodyless, the store is acknowledged 200 with an EMPTY value, and the declared body is then
  // parsed and executed as the next request(s) - request smuggling through the re-fed head.
  // Reproduction: `POST /obj` + Upgrade: h2c + Connection: Upgrade + 1100 `x-pad-N: v` lines +
  // `Content-Length: 11` + `hello-world` -> 200, /obj stored empty, then "501 ('hello-worldGET')".
  // The reference answers 431 "Too many headers" (more than 100) and stores nothing.
  // fixed: more than 100 header lines get the reference's 431 Too many headers, before any head is rebuilt (header-lines.ts).
  it("ours: a store behind 1100 header lines and an Upgrade header stores its body or is refused", async () => {
    const ours = await startOurs();
    const answer = await exchange(ours.port, request("POST", "/obj", { body: "hello-world", extra: UPGRADE + manyHeaders(1100) }));
    const stored = await load(ours.port, "obj");
    // Either refused (as the reference: 431) and nothing stored, or stored with its own bytes.
    if (statusLines(answer)[0] === "HTTP/1.1 200 OK") expect(stored).toBe("hello-world");
    else expect(stored).toBeUndefined();
    await stop(ours);
  });

  // FINDING: HIGH (same cause): the body of such a request is executed as requests: a DELETE
  // hidden in the body of a store runs (answered 200), though the client sent it as data.
  // Reproduction: as above with the body being a complete `DELETE /victim` request.
  // fixed: the same 431; nothing after it on the connection is read.
  it("ours: a request inside the body of an Upgrade request with 1100 header lines is not executed", async () => {
    const ours = await startOurs();
    expect(statusLines(await exchange(ours.port, request("POST", "/victim", { body: "precious" })))[0]).toBe("HTTP/1.1 200 OK");
    const smuggled = request("DELETE", "/victim");
    await exchange(ours.port, request("POST", "/carrier", { body: smuggled, extra: UPGRADE + manyHeaders(1100) }));
    expect(await load(ours.port, "victim")).toBe("precious");
    await stop(ours);
  });

  it.runIf(HAVE_REFERENCE)("reference: the same bytes are refused with 431 and nothing is stored or deleted", async () => {
    const ref = await startReference();
    expect(statusLines(await exchange(ref.port, request("POST", "/victim", { body: "precious" })))[0]).toBe("HTTP/1.1 200 OK");
    const answer = await exchange(ref.port, request("POST", "/carrier", { body: request("DELETE", "/victim"), extra: UPGRADE + manyHeaders(1100) }));
    expect(statusLines(answer)).toEqual(["HTTP/1.1 431 Too many headers"]);
    expect(await load(ref.port, "victim")).toBe("precious");
    expect(await load(ref.port, "carrier")).toBeUndefined();
    await stop(ref);
  });

  it("held: up to 100 header lines (the reference's limit) the re-fed store keeps its body; 101 get its 431", async () => {
    const ours = await startOurs();
    const answer = await exchange(ours.port, Buffer.concat([request("POST", "/obj", { body: "hello-world", extra: UPGRADE + manyHeaders(90) }), request("GET", "/obj")]));
    expect(statusLines(answer)).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(answer.toString("latin1")).toMatch(/hello-world$/);
    const refused = await exchange(ours.port, request("POST", "/obj2", { body: "hello-world", extra: UPGRADE + manyHeaders(101) }));
    expect(statusLines(refused)).toEqual(["HTTP/1.1 431 Too many headers"]);
    expect(await load(ours.port, "obj2")).toBeUndefined();
    await stop(ours);
  });
});

describe("many header lines without Upgrade", () => {
  // FINDING: LOW (not from this change): a store with ~1000 header lines (no Upgrade) gets no
  // answer at all: the server logs "400" but the client reads only the connection's end. The
  // reference answers "431 Too many headers". Reproduction: `POST /z` + 1000 `x-pad-N: v` lines
  // + Content-Length: 11 + body.
  // fixed: 431 Too many headers from the app for more than 100 header lines, as the reference.
  it("ours: a request with 1000 header lines gets an answer", async () => {
    const ours = await startOurs();
    const answer = await exchange(ours.port, request("POST", "/z", { body: "hello-world", extra: manyHeaders(1000) }));
    expect(statusLines(answer).length).toBeGreaterThan(0);
    await stop(ours);
  });
});

/** Both servers answer the same bytes; returns their status lines. */
async function bothAnswer(bytes: Buffer): Promise<{ ours: string[]; ref: string[] }> {
  const ours = await startOurs();
  const ref = await startReference();
  const result = { ours: statusLines(await exchange(ours.port, bytes)), ref: statusLines(await exchange(ref.port, bytes)) };
  await stop(ours);
  await stop(ref);
  return result;
}

describe.runIf(HAVE_REFERENCE)("501 for an unknown method behind a body", () => {
  // FINDING: LOW: the 501's reason names the refused method with the tail of the previous
  // request's body when that tail is a beginning of a known method ("GE", "PROPPATC", "HEA"):
  // `POST /m` with body "GE", then `XYZ / HTTP/1.1` -> ours "501 Unsupported method ('GEXYZ')",
  // the reference "501 Unsupported method ('XYZ')". Also with a line break inside the body
  // ("\r\nGE" -> 'GEXYZ'), where the line-break preference picks the body's own line start.
  it.fails("ours names only the refused method, as the reference does", async () => {
    const bytes = Buffer.concat([request("POST", "/m", { body: "\r\nGE" }), Buffer.from("XYZ / HTTP/1.1\r\n\r\n")]);
    const { ours, ref } = await bothAnswer(bytes);
    expect(ref).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 501 Unsupported method ('XYZ')"]);
    expect(ours).toEqual(ref);
  }, 40_000);

  /** The status line answered to `first`, then (300 ms later, a second packet) `second`. */
  const splitAnswer = (port: number, first: string, second: string) =>
    new Promise<string>((res) => {
      let out = "";
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.write(first);
        setTimeout(() => socket.write(second), 300);
      });
      socket.on("data", (d: Buffer) => (out += d.toString("latin1")));
      socket.on("error", () => undefined);
      setTimeout(() => {
        socket.destroy();
        res(out.split("\r\n")[0] ?? "");
      }, 1_200);
    });

  // FINDING: LOW: a method that arrives in two packets is named from the second packet only, or
  // not at all: "GE" then "TX / HTTP/1.1" -> ours "501 Unsupported method ('TX')", the reference
  // ('GETX'); "XY" then "Z / HTTP/1.1" -> ours "400 Bad Request", the reference "501 ... ('XYZ')".
  // (A client typing the request, or a method split by the network.)
  it.fails("ours names a method that arrives in two packets as the reference does", async () => {
    const ours = await startOurs();
    const ref = await startReference();
    const pairs: [string, string][] = [
      ["GE", "TX / HTTP/1.1\r\n\r\n"],
      ["XY", "Z / HTTP/1.1\r\n\r\n"],
    ];
    const answers: { ours: string; ref: string }[] = [];
    for (const [first, second] of pairs) answers.push({ ours: await splitAnswer(ours.port, first, second), ref: await splitAnswer(ref.port, first, second) });
    await stop(ours);
    await stop(ref);
    expect(answers.map((a) => a.ref)).toEqual(["HTTP/1.1 501 Unsupported method ('GETX')", "HTTP/1.1 501 Unsupported method ('XYZ')"]);
    expect(answers.map((a) => a.ours)).toEqual(answers.map((a) => a.ref));
  }, 40_000);

  it("held: a body ending in bytes no method starts with does not leak into the 501", async () => {
    const bytes = Buffer.concat([request("POST", "/m", { body: "hello" }), Buffer.from("XYZ / HTTP/1.1\r\n\r\n")]);
    const { ours, ref } = await bothAnswer(bytes);
    expect(ours).toEqual(ref);
  }, 40_000);
});

describe.runIf(HAVE_REFERENCE)("request lines between Node's header limit and the reference's 64 KiB", () => {
  // FINDING: LOW: a 20 000-byte request line (a long query) is refused 414 by ours; the
  // reference reads lines of up to 65 536 bytes and serves it (200). The change turned the old
  // 431 into 414, but the limit is still Node's 16 KiB header limit, not the reference's line
  // limit. Reproduction: `HEAD /obj?pad=<20 000 x>` on a stored /obj: ours 414, reference 200.
  // FINDING: LOW: a long request line that reaches Node's limit in a later packet than the one
  // its line started in (a request behind another, its target sent in two writes) is answered
  // 431, the reference 414: the line's start is looked for only in the packet that overflowed.
  // Reproduction: `HEAD /obj` + `HEAD /obj?p=<10 000 x>` in one write, `<70 000 x> HTTP/1.1` 300 ms later.
  it.fails("ours answers 414 for a long request line that overflows in its second packet", async () => {
    const ours = await startOurs();
    const ref = await startReference();
    const answer = (port: number) =>
      new Promise<string[]>((res) => {
        const chunks: Buffer[] = [];
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.write(Buffer.concat([request("HEAD", "/obj"), Buffer.from(`HEAD /obj?p=${"x".repeat(10_000)}`)]));
          setTimeout(() => socket.write(`${"x".repeat(70_000)} HTTP/1.1\r\n\r\n`), 300);
        });
        socket.on("data", (d: Buffer) => chunks.push(d));
        socket.on("error", () => undefined);
        setTimeout(() => {
          socket.destroy();
          res(statusLines(Buffer.concat(chunks)));
        }, 1_500);
      });
    for (const port of [ours.port, ref.port]) expect(statusLines(await exchange(port, request("POST", "/obj", { body: "v" })))[0]).toBe("HTTP/1.1 200 OK");
    const refAnswer = await answer(ref.port);
    const oursAnswer = await answer(ours.port);
    await stop(ours);
    await stop(ref);
    expect(refAnswer).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 414 Request-URI Too Long"]);
    expect(oursAnswer).toEqual(refAnswer);
  }, 40_000);

  it.fails("ours serves a 20 000-byte request line as the reference does", async () => {
    const ours = await startOurs();
    const ref = await startReference();
    const bytes = request("HEAD", `/obj?pad=${"x".repeat(20_000)}`);
    for (const port of [ours.port, ref.port]) expect(statusLines(await exchange(port, request("POST", "/obj", { body: "v" })))[0]).toBe("HTTP/1.1 200 OK");
    const refAnswer = statusLines(await exchange(ref.port, bytes));
    const oursAnswer = statusLines(await exchange(ours.port, bytes));
    await stop(ours);
    await stop(ref);
    expect(refAnswer).toEqual(["HTTP/1.1 200 OK"]);
    expect(oursAnswer).toEqual(refAnswer);
  }, 40_000);
});

/** Runs a stdio session of ours or of the reference on `input`; resolves with its stdout. */
function stdioSession(which: "ours" | "ref", store: string, input: Buffer): Promise<string> {
  const child =
    which === "ours"
      ? spawn(process.execPath, [CLI, "--stdio", "--backend", `file://${store}`, "--create"], { stdio: ["pipe", "pipe", "pipe"] })
      : spawn("python3", ["-m", "borgstore.server.rest", "--stdio", "--backend", `file://${store}`], {
          stdio: ["pipe", "pipe", "pipe"],
          env: { ...process.env, PYTHONPATH: REFERENCE_SRC ?? "" },
        });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString("latin1")));
  child.stderr?.resume();
  child.stdin?.on("error", () => undefined);
  child.stdin?.end(input);
  return new Promise((res) => child.once("exit", () => res(out)));
}

function stdioRequest(method: string, path: string, body = ""): Buffer {
  return Buffer.from(`${method} ${path} HTTP/1.1\r\n${ACCEPT}Content-Length: ${body.length}\r\n\r\n${body}`, "latin1");
}

describe.runIf(HAVE_REFERENCE)("stdio: a 414 and the requests behind it", () => {
  // FINDING: LOW: over --stdio, after the 414 for a request line longer than ~192 KiB (200 000
  // bytes here, no body; 195 000 still goes on, 196 500 not), ours ends the session: the store pipelined behind it is neither
  // executed nor answered (the client reads EOF). The reference answers 414 (several times, per
  // 64 KiB piece of the line) and reads on: it serves `POST /b` (200, stored) and `GET /b`.
  // Reproduction: stdin = `POST /a` + `HEAD /<200 000 x> HTTP/1.1` (no body) + `POST /b` body BBB + `GET /b`.
  it.fails("ours goes on after a 414 for a 200 000-byte request line, as the reference does", async () => {
    const input = Buffer.concat([
      stdioRequest("POST", "/a", "AAA"),
      Buffer.from(`HEAD /${"x".repeat(200_000)} HTTP/1.1\r\n${ACCEPT}\r\n`),
      stdioRequest("POST", "/b", "BBB"),
      stdioRequest("GET", "/b"),
    ]);
    const refStore = join(tempDir(), "store");
    await stdioSession("ref", refStore, stdioRequest("POST", "/?cmd=create"));
    const ref = await stdioSession("ref", refStore, input);
    expect(ref).toMatch(/414 Request-URI Too Long/);
    expect(readFileSync(join(refStore, "b"), "latin1")).toBe("BBB");
    expect(ref).toMatch(/BBB$/);
    const oursStore = join(tempDir(), "store");
    const ours = await stdioSession("ours", oursStore, input);
    expect(ours).toMatch(/414 Request-URI Too Long/);
    expect(existsSync(join(oursStore, "b")) ? readFileSync(join(oursStore, "b"), "latin1") : undefined).toBe("BBB");
    expect(ours).toMatch(/BBB$/);
  }, 40_000);

  it("held: after a 414 for a 70 000-byte request line the session goes on and serves the next store", async () => {
    const input = Buffer.concat([
      stdioRequest("POST", "/a", "AAA"),
      Buffer.from(`HEAD /${"x".repeat(70_000)} HTTP/1.1\r\n${ACCEPT}\r\n`),
      stdioRequest("POST", "/b", "BBB"),
      stdioRequest("GET", "/b"),
    ]);
    const store = join(tempDir(), "store");
    const ours = await stdioSession("ours", store, input);
    expect(statusLines(Buffer.from(ours, "latin1"))).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 414 Request-URI Too Long", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(ours).toMatch(/BBB$/);
    expect(readFileSync(join(store, "b"), "latin1")).toBe("BBB");
  }, 40_000);
});

describe.runIf(HAVE_REFERENCE)("stdio: Upgrade requests in a session whose input has ended", () => {
  // FINDING: MEDIUM: over --stdio, a plain request, then two requests carrying `Upgrade:`, then
  // more, all on stdin which then ends (`borgstore-server-rest --stdio < requests`, or a client
  // that closes its side after its last request): ours answers the first two and ends the
  // session; the second Upgrade request and everything behind it are neither executed nor
  // answered (POST /b not stored). With stdin held open the same bytes are all served, and over
  // TCP a half-close after the same requests is served too: the end of input is handed on before
  // the re-fed bytes are read. The reference serves all four.
  // Reproduction: stdin = `POST /a` + `POST /u` (Upgrade) + `POST /b` (Upgrade) + `GET /b`, then EOF.
  // fixed: over stdio the bytes after an Upgrade request's head go on as the session's next connection (StdioSession.continueWith, as after a CONNECT), which reads them even after the input ended; a connection whose input ended could take nothing back.
  it("ours serves every request received before the end of input", async () => {
    const upgrade = (method: string, path: string, body = "") =>
      Buffer.from(`${method} ${path} HTTP/1.1\r\n${ACCEPT}${UPGRADE}Content-Length: ${body.length}\r\n\r\n${body}`, "latin1");
    const input = Buffer.concat([stdioRequest("POST", "/a", "AAA"), upgrade("POST", "/u", "UUU"), upgrade("POST", "/b", "BBB"), stdioRequest("GET", "/b")]);
    const refStore = join(tempDir(), "store");
    await stdioSession("ref", refStore, stdioRequest("POST", "/?cmd=create"));
    const ref = await stdioSession("ref", refStore, input);
    expect(statusLines(Buffer.from(ref, "latin1"))).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    const oursStore = join(tempDir(), "store");
    const ours = await stdioSession("ours", oursStore, input);
    expect(existsSync(join(oursStore, "b"))).toBe(true);
    expect(statusLines(Buffer.from(ours, "latin1"))).toEqual(statusLines(Buffer.from(ref, "latin1")));
    expect(ours).toMatch(/BBB$/);
  }, 40_000);

  it("held: one Upgrade request in a session whose input has ended, and the requests behind it, are served", async () => {
    const input = Buffer.concat([
      stdioRequest("POST", "/a", "AAA"),
      Buffer.from(`POST /u HTTP/1.1\r\n${ACCEPT}${UPGRADE}Content-Length: 3\r\n\r\nUUU`),
      stdioRequest("POST", "/b", "BBB"),
      stdioRequest("GET", "/b"),
    ]);
    const store = join(tempDir(), "store");
    const ours = await stdioSession("ours", store, input);
    expect(statusLines(Buffer.from(ours, "latin1"))).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(ours).toMatch(/BBB$/);
  }, 40_000);
});

describe("Upgrade requests: what held", () => {
  it("held: odd heads re-fed without the Upgrade header get the same answers and stored bytes as without it", async () => {
    const ours = await startOurs();
    const variants: Record<string, (name: string, up: string) => Buffer> = {
      obsFold: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}X-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello`),
      obsFoldLength: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}Content-Length:\r\n 5\r\n\r\nhello`),
      chunked: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}Transfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: y\r\n\r\n`),
      highBytes: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}X-B: \xe9\xff\x80\r\nContent-Length: 5\r\n\r\nhello`, "latin1"),
      lengthSpaces: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}Content-Length:   5   \r\n\r\nhello`),
      http10: (n, up) => Buffer.from(`POST /${n} HTTP/1.0\r\nHost: x\r\n${ACCEPT}${AUTH}${up}Content-Length: 5\r\n\r\nhello`),
      shortBody: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}Content-Length: 10\r\n\r\nhelloGET /${n} HTTP/1.1\r\n\r\n`),
      longBody: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}Content-Length: 5\r\n\r\nhelloXYZ / HTTP/1.1\r\n\r\n`),
      twoUpgradeHeaders: (n, up) => Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up}UPGRADE: websocket\r\nContent-Length: 5\r\n\r\nhello`),
      closing: (n, up) =>
        Buffer.concat([
          Buffer.from(`POST /${n} HTTP/1.1\r\nHost: x\r\n${ACCEPT}${AUTH}${up ? "Upgrade: h2c\r\nConnection: Upgrade, close\r\n" : "Connection: close\r\n"}Content-Length: 5\r\n\r\nhello`),
          request("DELETE", `/${n}`),
        ]),
    };
    for (const [variant, make] of Object.entries(variants)) {
      const name = variant.toLowerCase();
      const plain = statusLines(await exchange(ours.port, make(`${name}-p`, ""), 500));
      const upgraded = statusLines(await exchange(ours.port, make(`${name}-u`, UPGRADE), 500)).map((line) => line.replaceAll(`${name}-u`, `${name}-p`));
      expect({ name, upgraded, stored: await load(ours.port, `${name}-u`) }).toEqual({ name, upgraded: plain, stored: await load(ours.port, `${name}-p`) });
    }
    await stop(ours);
  }, 60_000);

  it("held: 300 Upgrade requests in a row on one connection are all answered, unauthenticated ones 401", async () => {
    const ours = await startOurs();
    expect(statusLines(await exchange(ours.port, request("POST", "/obj", { body: "v" })))[0]).toBe("HTTP/1.1 200 OK");
    const pieces: Buffer[] = [];
    for (let i = 0; i < 300; i++) pieces.push(request("HEAD", "/obj", { extra: UPGRADE, auth: i % 3 !== 0 }));
    const answers = statusLines(await exchange(ours.port, Buffer.concat(pieces), 1_500));
    expect(answers.length).toBe(300);
    expect(answers).toEqual(pieces.map((_, i) => (i % 3 === 0 ? "HTTP/1.1 401 Unauthorized" : "HTTP/1.1 200 OK")));
    await stop(ours);
  }, 40_000);

  it("held: an Upgrade request's Authorization does not carry over to the request behind it", async () => {
    const ours = await startOurs();
    const answer = await exchange(ours.port, Buffer.concat([request("POST", "/a", { body: "1", extra: UPGRADE }), request("POST", "/b", { body: "2", auth: false })]));
    expect(statusLines(answer)).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 401 Unauthorized"]);
    expect(await load(ours.port, "b")).toBeUndefined();
    await stop(ours);
  });

  it("held: a slow head behind an Upgrade request is cut by the headers timeout like any other", async () => {
    const ours = await startOurs(["--idle-timeout", "3"]);
    const cutAfter = async (upgrade: string) => {
      const started = Date.now();
      await new Promise<void>((res) => {
        const socket = net.connect(ours.port, "127.0.0.1", () => {
          socket.write(Buffer.concat([request("HEAD", "/x", { extra: upgrade }), Buffer.from("HEAD /x HTTP/1.1\r\nX-Slow: ")]));
          const drip = setInterval(() => socket.write("a"), 700);
          socket.on("close", () => {
            clearInterval(drip);
            res();
          });
          setTimeout(() => socket.destroy(), 12_000);
        });
        socket.on("error", () => undefined);
      });
      return Date.now() - started;
    };
    const [plain, upgraded] = await Promise.all([cutAfter(""), cutAfter(UPGRADE)]);
    expect(plain).toBeLessThan(8_000);
    expect(upgraded).toBeLessThan(8_000);
    await stop(ours);
  }, 40_000);

  it("held: connections that carried Upgrade requests give back their per-address slots", async () => {
    const ours = await startOurs(["--max-connections-per-address", "2", "--max-connections", "3"]);
    const both = Buffer.concat([request("HEAD", "/x", { extra: UPGRADE }), request("HEAD", "/x", { extra: UPGRADE })]);
    for (let i = 0; i < 8; i++) await exchange(ours.port, both, 200);
    await new Promise((r) => setTimeout(r, 300));
    const answers = await Promise.all([exchange(ours.port, request("HEAD", "/x", { extra: UPGRADE }), 300), exchange(ours.port, request("HEAD", "/x", { extra: UPGRADE }), 300)]);
    expect(answers.map((a) => statusLines(a)[0])).toEqual(["HTTP/1.1 404 x", "HTTP/1.1 404 x"]);
    await stop(ours);
  }, 40_000);
});
