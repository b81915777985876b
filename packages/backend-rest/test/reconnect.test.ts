import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackendConnectionError, BackendError, ObjectNotFound } from "@borgstore/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { isConnectionLost } from "@borgstore/core/backend";
import { StdioTransport } from "../src/stdio-transport.js";
import { CuttingProxy } from "./helpers/cutting-proxy.js";
import { RawResponder } from "./helpers/raw-responder.js";
import { type RunningServer, SERVER_CLI, startServer } from "./helpers/server.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => Buffer.from(b).toString();

const root = mkdtempSync(join(tmpdir(), "borgstore-rest-reconnect-"));
afterAll(() => rm(root, { recursive: true, force: true }));

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: Error) => e,
  );
}

describe("over TCP, a lost connection is reconnected and the operation retried (docs/rest-protocol.md#reconnecting)", () => {
  let server: RunningServer;
  let proxy: CuttingProxy;
  let backend: RestBackend;
  let n = 0;

  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${join(root, "tcp")}`, "--create"]);
    proxy = await CuttingProxy.start(Number(new URL(server.url).port));
  });
  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
  });
  beforeEach(async () => {
    backend = new RestBackend({ url: `http://127.0.0.1:${proxy.port}/`, concurrency: 1, retryDelay: 20, env: {} });
    await backend.open();
    return () => backend.close();
  });

  it("info() (HEAD) keeps its keep-alive connection: undici would close it after every HEAD", async () => {
    await backend.store(`kept-${n}`, bytes("x"));
    const before = proxy.connections;
    for (let i = 0; i < 20; i++) await backend.info(`kept-${n}`);
    await backend.load(`kept-${n++}`);
    expect(proxy.connections).toBe(before);
  });

  it("a load whose response is cut half-way is retried on a new connection and returns the whole value", async () => {
    const name = `load-${n++}`;
    const value = new Uint8Array(200_000).fill(7);
    await backend.store(name, value);
    const before = proxy.connections;
    const cutsBefore = proxy.cuts;
    proxy.cutResponses(1, 50_000);
    expect(Buffer.from(await backend.load(name)).equals(Buffer.from(value))).toBe(true);
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(proxy.connections).toBe(before + 1);
  });

  it("a store whose answer was lost is retried and the value is there", async () => {
    const name = `store-${n++}`;
    const cutsBefore = proxy.cuts;
    proxy.cutResponses(1, 0);
    await backend.store(name, bytes("stored once or twice"));
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(text(await backend.load(name))).toBe("stored once or twice");
  });

  it("a delete whose answer was lost succeeds: ObjectNotFound on the retry means the first attempt did it", async () => {
    const name = `del-${n++}`;
    await backend.store(name, bytes("x"));
    const cutsBefore = proxy.cuts;
    proxy.cutResponses(1, 0);
    await backend.delete(name);
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect((await backend.info(name)).exists).toBe(false);
  });

  it("a move whose answer was lost succeeds the same way", async () => {
    const name = `mv-${n++}`;
    await backend.store(name, bytes("moved"));
    const cutsBefore = proxy.cuts;
    proxy.cutResponses(1, 0);
    await backend.move(name, `${name}-new`);
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(text(await backend.load(`${name}-new`))).toBe("moved");
    expect((await backend.info(name)).exists).toBe(false);
  });

  it("delete and move of a missing object still fail with ObjectNotFound on the first attempt", async () => {
    const before = proxy.connections;
    await expect(backend.delete("never-there")).rejects.toBeInstanceOf(ObjectNotFound);
    await expect(backend.move("never-there", "elsewhere")).rejects.toBeInstanceOf(ObjectNotFound);
    // Error pages close the connection, but nothing is retried: one connection per request.
    expect(proxy.connections - before).toBeLessThanOrEqual(2);
  });

  it("a list whose response is cut is retried and parses the whole JSON", async () => {
    await backend.mkdir(`ns-${n}`);
    await backend.store(`ns-${n}/a`, bytes("1"));
    const cutsBefore = proxy.cuts;
    proxy.cutResponses(1, 10);
    const names: string[] = [];
    for await (const item of backend.list(`ns-${n}`)) names.push(item.name);
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(names).toEqual(["a"]);
    n++;
  });

  it("gives up after 3 reconnects with BackendError 'could not be reestablished'", async () => {
    const before = proxy.connections;
    proxy.dropAll(true);
    try {
      const err = await failure(backend.info("anything"));
      expect(err).toBeInstanceOf(BackendError);
      expect(err).not.toBeInstanceOf(BackendConnectionError);
      expect(err.message).toMatch(/rest connection was lost and could not be reestablished/);
      expect(proxy.connections - before).toBe(4);
    } finally {
      proxy.dropAll(false);
    }
  });

  it("create outside a session is not retried", async () => {
    const closed = new RestBackend({ url: `http://127.0.0.1:${proxy.port}/`, retryDelay: 20, env: {} });
    proxy.dropAll(true);
    const before = proxy.connections;
    try {
      const err = await failure(closed.create());
      expect(err).toBeInstanceOf(BackendConnectionError);
      expect(proxy.connections - before).toBe(1);
    } finally {
      proxy.dropAll(false);
    }
  });
});

describe("HTTP timeouts", () => {
  it("a server that never answers is a lost connection after the timeout, retried, then given up", async () => {
    const silent = await RawResponder.start();
    try {
      const b = new RestBackend({ url: `http://127.0.0.1:${silent.port}/`, timeout: 200, retries: 1, retryDelay: 10, env: {} });
      silent.respond({ status: 200, reason: "OK", headers: [["Content-Length", "0"]], body: Buffer.alloc(0) });
      await b.open();
      silent.silent = true;
      const started = Date.now();
      const err = await failure(b.load("x"));
      expect(err.message).toMatch(/could not be reestablished/);
      expect(isConnectionLost(err.cause)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
      await b.close();
    } finally {
      await silent.stop();
    }
  });
});

describe("which errors are a lost connection", () => {
  it("classifies connection failures as retryable and every other error as final", () => {
    const coded = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ["ECONNRESET", "EPIPE", "ECONNREFUSED", "UND_ERR_SOCKET", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"])
      expect(isConnectionLost(coded(code)), code).toBe(true);
    expect(isConnectionLost(new BackendConnectionError("lost"))).toBe(true);
    expect(isConnectionLost(new ObjectNotFound("x"))).toBe(false);
    expect(isConnectionLost(new BackendError("x"))).toBe(false);
    expect(isConnectionLost(new TypeError("x"))).toBe(false);
  });
});

describe("over stdio", () => {
  const sh = (script: string) => ["sh", "-c", script];
  const ok = "printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n'";
  const transport = (command: string[]) => new StdioTransport(command, { timeout: 2000 });

  it("EOF before the status line is a BackendConnectionError (retryable)", async () => {
    const t = transport(sh("read line; exit 0"));
    const err = await failure(t.request({ method: "HEAD", target: "/" }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toMatch(/reading status line/);
    t.destroy();
  });

  it("EOF in the headers is a BackendConnectionError mentioning the headers", async () => {
    const t = transport(sh("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Le'"));
    const err = await failure(t.request({ method: "GET", target: "/x" }));
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toMatch(/reading headers/);
  });

  it("a body shorter than its Content-Length is a BackendConnectionError mentioning the body", async () => {
    const t = transport(sh("read line; printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 10\\r\\n\\r\\nabc'"));
    const res = await t.request({ method: "GET", target: "/x" });
    const err = await failure(res.bytes());
    expect(err).toBeInstanceOf(BackendConnectionError);
    expect(err.message).toMatch(/reading response body/);
  });

  it("writing to a child that has gone is a broken pipe (BackendConnectionError)", async () => {
    const t = transport(sh("exec 0<&-; exit 0"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const err = await failure(t.request({ method: "POST", target: "/x", body: new Uint8Array(1 << 20) }));
    expect(err).toBeInstanceOf(BackendConnectionError);
  });

  it("a status line without a status is a BackendError, not retried", async () => {
    const t = transport(sh("printf 'garbage\\r\\n\\r\\n'; cat >/dev/null"));
    const err = await failure(t.request({ method: "HEAD", target: "/" }));
    expect(err).toBeInstanceOf(BackendError);
    expect(err).not.toBeInstanceOf(BackendConnectionError);
  });

  it("close reports a non-zero exit with the last stderr lines", async () => {
    const t = transport(sh(`${ok}; cat >/dev/null; echo 'something broke' >&2; exit 3`));
    expect((await t.request({ method: "HEAD", target: "/" })).status).toBe(200);
    const err = await failure(t.close());
    expect(err).toBeInstanceOf(BackendError);
    expect(err.message).toMatch(/exited with code 3.*something broke/s);
  });

  it("close kills a child that does not exit within the timeout", async () => {
    const t = new StdioTransport(sh("trap '' TERM; while :; do sleep 1; done"), { timeout: 200 });
    const err = await failure(t.close());
    expect(err.message).toMatch(/did not exit/);
  });

  it("the child ignores SIGINT (Ctrl-C reaches only the client)", async () => {
    const t = transport(sh(`kill -INT $$; ${ok}; cat >/dev/null`));
    expect((await t.request({ method: "HEAD", target: "/" })).status).toBe(200);
    await t.close();
  });

  it("a killed server child is replaced by a new one and the operation retried", async () => {
    const bin = mkdtempSync(join(root, "bin-"));
    const pidFile = join(root, "server.pid");
    writeFileSync(
      join(bin, "borgstore-server-rest"),
      `#!/bin/sh\necho $$ > "${pidFile}"\nexec "${process.execPath}" "${SERVER_CLI}" "$@"\n`,
    );
    chmodSync(join(bin, "borgstore-server-rest"), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const b = new RestBackend({ url: `rest:///${join(root, "stdio")}`, retryDelay: 20, env });
    await b.create();
    await b.open();
    await b.store("a", bytes("before"));
    const first = Number(readFileSync(pidFile, "utf8"));
    process.kill(first, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 100));
    await b.store("b", bytes("after"));
    expect(text(await b.load("a"))).toBe("before");
    expect(Number(readFileSync(pidFile, "utf8"))).not.toBe(first);
    await b.close();
    await b.destroy();
    // Four server processes start here (create, open, the replacement, destroy): ~1 s each on a loaded machine.
  }, 20_000);
});
