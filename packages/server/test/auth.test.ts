import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCodes, MemoryBackend, isBorgStoreError } from "@borgstore/core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { type Server, createServer } from "node:net";
import { isLoopbackAddress, openServingProblem, resolveCredentials } from "../src/auth-policy.js";
import { RestServer, createApp } from "../src/index.js";
import { ACCEPT, CLI, RawConnection, rawRequest, request, startInProcess, tempDir } from "./helpers.js";

interface Outcome {
  code: number | null;
  stderr: string;
  /** Statuses of create without credentials, then with alice:pw (only when it started). */
  statuses?: number[];
}

/** Runs the CLI; once it serves, probes it without and with credentials, then stops it. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("BORGSTORE_SERVER_")));
    const child = spawn(process.execPath, [CLI, "--port", "0", "--backend", "memory:", ...args], {
      env: { ...clean, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let statuses: number[] | undefined;
    let probing = false;
    child.stderr.on("data", async (d: Buffer) => {
      stderr += d.toString();
      const m = /on http:\/\/\[?([^\]/]+?)\]?:(\d+)\//.exec(stderr);
      if (!m || probing) return;
      probing = true;
      const [host, port] = [m[1] as string, Number(m[2])];
      const create = async (auth?: string) => {
        const conn = await RawConnection.open(port, host);
        const headers: [string, string][] = [["Host", "x"], ["Accept", ACCEPT], ["Content-Length", "0"]];
        if (auth) headers.push(["Authorization", `Basic ${Buffer.from(auth).toString("base64")}`]);
        conn.send(rawRequest("POST", "/?cmd=create", headers));
        const res = await conn.response();
        conn.close();
        return res.status;
      };
      const first = await create();
      statuses = first === 401 ? [first, await create("alice:pw")] : [first];
      child.kill("SIGTERM");
    });
    child.once("exit", (code) => resolve({ code, stderr, statuses }));
  });
}

describe("auth fails closed", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it("the library refuses credentials with exactly one empty part (InvalidArgument), both empty is no auth", () => {
    for (const credentials of [
      { username: "alice", password: "" },
      { username: "", password: "pw" },
    ]) {
      for (const make of [() => createApp(new MemoryBackend(), { credentials }), () => new RestServer(new MemoryBackend(), { credentials })]) {
        let thrown: unknown;
        try {
          make();
        } catch (err) {
          thrown = err;
        }
        expect(isBorgStoreError(thrown, ErrorCodes.INVALID_ARGUMENT), String(thrown)).toBe(true);
      }
    }
    expect(() => createApp(new MemoryBackend(), { credentials: { username: "", password: "" } })).not.toThrow();
  });

  it("never resolves a given user name or password to an open server", () => {
    const part = fc.option(fc.constantFrom("", "alice", "pw", " "), { nil: undefined });
    fc.assert(
      fc.property(part, part, fc.boolean(), (username, password, noAuth) => {
        const result = resolveCredentials({ username, password, noAuth });
        const given = username !== undefined || password !== undefined;
        if (!given) expect(result).toBeUndefined();
        else if (result instanceof Error) expect(result.message).toMatch(/half-configured|contradicts/);
        else {
          expect(noAuth).toBe(false);
          expect(result).toEqual({ username, password });
          expect(result?.username && result.password).toBeTruthy();
        }
      }),
      { numRuns: 500 },
    );
  });

  // Each run is a real process (~0.5 s): a bounded number of combinations.
  it("over flag, env var and password-file combinations: starts with working auth, starts open only on loopback or with --no-auth, or exits 2 with a message", async () => {
    let file = 0;
    const user = fc.record({ via: fc.constantFrom("none", "flag", "env"), value: fc.constantFrom("", "alice") });
    const pass = fc.record({
      via: fc.constantFrom("none", "flag", "env", "file", "file-env"),
      value: fc.constantFrom("", "pw", "pw\n", "\n", "\npw"),
    });
    // 192.0.2.1 (TEST-NET) is no local address: a server allowed to serve there fails to listen instead.
    const host = fc.constantFrom("127.0.0.1", "localhost", "192.0.2.1");
    await fc.assert(
      fc.asyncProperty(user, pass, fc.boolean(), host, async (u, p, noAuth, where) => {
        const args = ["--host", where];
        const env: NodeJS.ProcessEnv = {};
        if (u.via === "flag") args.push("--username", u.value);
        if (u.via === "env") env.BORGSTORE_SERVER_USERNAME = u.value;
        const flagOrEnvValue = p.value.replace(/\n/g, "");
        if (p.via === "flag") args.push("--password", flagOrEnvValue);
        if (p.via === "env") env.BORGSTORE_SERVER_PASSWORD = flagOrEnvValue;
        if (p.via === "file" || p.via === "file-env") {
          const path = join(dir.path, `pw${file++}`);
          writeFileSync(path, p.value);
          if (p.via === "file") args.push("--password-file", path);
          else env.BORGSTORE_SERVER_PASSWORD_FILE = path;
        }
        if (noAuth) args.push("--no-auth");
        const username = u.via === "none" ? undefined : u.value;
        const password = p.via === "none" ? undefined : p.via.startsWith("file") ? (p.value.split("\n")[0] ?? "") : flagOrEnvValue;
        const given = username !== undefined || password !== undefined;
        const network = where === "192.0.2.1";

        const { code, stderr, statuses } = await runCli(args, env);
        const context = `${JSON.stringify({ args, env })}\n${stderr}`;
        if (noAuth && given) {
          expect(code, context).toBe(2);
          expect(stderr, context).toContain("--no-auth contradicts");
        } else if (given && !(username && password)) {
          expect(code, context).toBe(2);
          expect(stderr, context).toContain("auth is half-configured");
        } else if (network) {
          expect(code, context).toBe(2);
          expect(stderr, context).toContain(given || noAuth ? "cannot listen" : "without authentication");
        } else {
          expect(statuses, context).toEqual(given ? (username === "alice" && password === "pw" ? [401, 200] : [401, 401]) : [200]);
          expect(code, context).toBe(0);
        }
      }),
      {
        numRuns: 12,
        // The cases of the issue, always: an empty password file (or first line), a user name
        // alone, a password alone, and no credentials on a network address.
        examples: [
          [{ via: "flag", value: "alice" }, { via: "file", value: "" }, false, "127.0.0.1"],
          [{ via: "env", value: "alice" }, { via: "file-env", value: "\npw" }, false, "127.0.0.1"],
          [{ via: "flag", value: "alice" }, { via: "none", value: "" }, false, "127.0.0.1"],
          [{ via: "none", value: "" }, { via: "env", value: "pw" }, false, "127.0.0.1"],
          [{ via: "env", value: "alice" }, { via: "file", value: "pw\n" }, false, "localhost"],
          [{ via: "none", value: "" }, { via: "none", value: "" }, false, "192.0.2.1"],
          [{ via: "none", value: "" }, { via: "none", value: "" }, true, "192.0.2.1"],
        ],
      },
    );
  }, 60_000);

  it.each([
    ["127.0.0.1", true],
    ["127.255.0.9", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["0.0.0.0", false],
    ["::", false],
    ["192.168.1.2", false],
    ["::ffff:10.0.0.1", false],
    ["fe80::1", false],
  ])("treats %s as loopback: %s", (address, loopback) => {
    expect(isLoopbackAddress(address)).toBe(loopback);
  });

  it("refuses open serving only where the network reaches it, unless --no-auth", () => {
    for (const exposure of ["stdio", "unix", "loopback"] as const) expect(openServingProblem(exposure, "x", false)).toBeUndefined();
    expect(openServingProblem("network", "0.0.0.0", false)).toContain("refusing to serve 0.0.0.0 without authentication");
    expect(openServingProblem("network", "0.0.0.0", true)).toBeUndefined();
  });

  it("reads the address of a socket passed by systemd: loopback serves open", async () => {
    const listener: Server = createServer();
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const { port } = listener.address() as { port: number };
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("BORGSTORE_SERVER_")));
    const child = spawn(process.execPath, [CLI, "--backend", "memory:", "--socket-activation"], {
      env: { ...clean, LISTEN_FDS: "1" },
      // The listening socket's descriptor becomes the child's fd 3, as systemd passes it.
      stdio: ["ignore", "ignore", "pipe", (listener as unknown as { _handle: { fd: number } })._handle.fd],
    });
    // The child has its own copy of the socket now; ours must not accept connections.
    listener.close();
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      while (!stderr.includes("on the socket passed by systemd")) {
        if (child.exitCode !== null) throw new Error(stderr);
        await new Promise((r) => setTimeout(r, 25));
      }
      expect((await request(port, "POST", "/?cmd=create", { auth: false })).status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  it("logs failed logins as '-' (never the configured user) and warns without the name the client sent (it may be a password)", async () => {
    const server = await startInProcess(["--backend", "memory:"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    const wrong = `Basic ${Buffer.from("s3cret-in-url:guess").toString("base64")}`;
    expect((await request(server.port, "POST", "/?cmd=create", { auth: false, headers: [["Authorization", wrong]] })).status).toBe(401);
    expect((await request(server.port, "GET", "/x", { auth: false })).status).toBe(401);
    expect((await request(server.port, "POST", "/?cmd=create")).status).toBe(200);
    expect(await server.stop()).toBe(0);
    const log = server.stderr();
    expect(log).toContain("failed login from 127.0.0.1 (a user name was given)");
    expect(log).not.toContain("s3cret-in-url");
    expect(log).toMatch(/127\.0\.0\.1 - - \[[^\]]+\] "POST \/\?cmd=create HTTP\/1\.1" 401 -/);
    expect(log).toMatch(/127\.0\.0\.1 - - \[[^\]]+\] "GET \/x HTTP\/1\.1" 401 -/);
    expect(log).toMatch(/127\.0\.0\.1 - testuser \[[^\]]+\] "POST \/\?cmd=create HTTP\/1\.1" 200 -/);
    expect(log.match(/testuser/g)?.length).toBe(1);
  });
});
