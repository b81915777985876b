import { existsSync } from "node:fs";
import { type Socket, connect, } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { rawRequest, request, type ServerProcess, startOnPort, startServer, tempDir } from "./helpers.js";

/** Waits until `predicate` holds for the server's stderr (log lines are written once per event-loop turn). */
async function stderrSettles(server: ServerProcess, predicate: (text: string) => boolean, ms = 3000): Promise<string> {
  for (const until = Date.now() + ms; !predicate(server.stderr()) && Date.now() < until; ) await sleep(20);
  return server.stderr();
}

/** Opens a TCP connection and resolves once it is connected; `closed` resolves when the server ends it. */
async function openSocket(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect(port, "127.0.0.1");
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, closed };
}

let n = 0;

describe("borgstore-server-rest options", () => {
  const dir = tempDir();
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    dir.remove();
  });
  async function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
    const quiet = ["warning", "error"].includes(args[args.indexOf("--log-level") + 1] ?? "");
    const server = await (quiet ? startOnPort(args, env) : startServer(args, env));
    servers.push(server);
    return server;
  }

  it("--max-connections: a connection beyond the limit is closed unserved; once one closes, the next is served", async () => {
    const server = await start(["--backend", `FILE:${dir.path}/s${n++}`, "--create", "--max-connections", "2", "--max-connections-per-address", "0"]);
    const held = [await openSocket(server.port), await openSocket(server.port)];
    const extra = await openSocket(server.port);
    let answered = "";
    extra.socket.on("data", (d: Buffer) => (answered += d.toString()));
    extra.socket.write(rawRequest("POST", "/?cmd=quota", [["Host", "127.0.0.1"], ["Content-Length", "0"]]));
    await extra.closed;
    expect(answered).toBe("");
    held[0]?.socket.destroy();
    await held[0]?.closed;
    // The server frees the slot when it sees the close: ask until it has (a loaded machine is slow).
    let status = 0;
    for (const until = Date.now() + 5000; status !== 200 && Date.now() < until; await sleep(50))
      status = await request(server.port, "POST", "/?cmd=quota", { auth: false }).then((r) => r.status, () => 0);
    expect(status).toBe(200);
    held[1]?.socket.destroy();
  });

  it("--log-level warning: no access-log lines, but failed logins are logged", async () => {
    const server = await start(["--backend", `FILE:${dir.path}/s${n++}`, "--create", "--log-level", "warning"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    expect((await request(server.port, "POST", "/?cmd=quota")).status).toBe(200);
    const bad = `Basic ${Buffer.from("mallory:guess").toString("base64")}`;
    expect((await request(server.port, "POST", "/?cmd=quota", { auth: false, headers: [["Authorization", bad]] })).status).toBe(401);
    const log = await stderrSettles(server, (text) => text.includes("failed login"));
    expect(log).toContain("failed login from 127.0.0.1 (a user name was given)");
    expect(log).not.toMatch(/"POST \/\?cmd=quota HTTP\/1\.1" (200|401)/);
  });

  it("--log-level error: not even the failed-login warning", async () => {
    const server = await start(["--backend", `FILE:${dir.path}/s${n++}`, "--create", "--log-level", "error"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    expect((await request(server.port, "POST", "/?cmd=quota", { auth: false, headers: [["Authorization", "Basic bWFsbG9yeTpndWVzcw=="]] })).status).toBe(401);
    expect((await request(server.port, "POST", "/?cmd=quota")).status).toBe(200);
    await sleep(200);
    expect(server.stderr()).not.toContain("failed login");
    expect(server.stderr()).not.toContain("HTTP/1.1");
  });

  it("--log-level info (the default) logs one access line per request; debug adds what info leaves out", async () => {
    const info = await start(["--backend", `FILE:${dir.path}/s${n++}`, "--create"]);
    expect((await request(info.port, "POST", "/?cmd=quota", { auth: false })).status).toBe(200);
    expect(await stderrSettles(info, (t) => t.includes("HTTP/1.1"))).toMatch(/127\.0\.0\.1 - - \[[^\]]+\] "POST \/\?cmd=quota HTTP\/1\.1" 200 -/);
    const garbage = async (port: number) => {
      const { socket, closed } = await openSocket(port);
      const answered = new Promise<void>((resolve) => socket.once("data", () => resolve()));
      socket.write("NOT HTTP AT ALL\r\n\r\n");
      await Promise.race([answered, closed]);
      socket.destroy();
    };
    await garbage(info.port);
    await sleep(200);
    expect(info.stderr()).not.toContain("unreadable request");
    expect(info.stderr()).toMatch(/127\.0\.0\.1 - - \[[^\]]+\] "<refused>" 400 - \(Bad Request\)/);
    const debug = await start(["--backend", `FILE:${dir.path}/s${n++}`, "--create", "--log-level", "debug"]);
    await garbage(debug.port);
    expect(await stderrSettles(debug, (t) => t.includes("unreadable request"))).toContain("unreadable request");
  });

  it("BORGSTORE_SERVER_BACKEND names the backend when --backend is not given; --backend wins over it", async () => {
    const fromEnv = join(dir.path, "from-env");
    const fromFlag = join(dir.path, "from-flag");
    const byEnv = await start(["--create"], { BORGSTORE_SERVER_BACKEND: `file://${fromEnv}` });
    expect((await request(byEnv.port, "POST", "/config/by-env", { auth: false, body: "x" })).status).toBe(200);
    expect(existsSync(join(fromEnv, "config", "by-env"))).toBe(true);
    const both = await start(["--create", "--backend", `file://${fromFlag}`], { BORGSTORE_SERVER_BACKEND: `file://${fromEnv}` });
    expect((await request(both.port, "POST", "/config/by-flag", { auth: false, body: "x" })).status).toBe(200);
    expect(existsSync(join(fromFlag, "config", "by-flag"))).toBe(true);
    expect(existsSync(join(fromEnv, "config", "by-flag"))).toBe(false);
  });
});
