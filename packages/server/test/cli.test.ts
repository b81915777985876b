import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, request, startServer, tempDir } from "./helpers.js";

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => resolve({ code, stderr }));
  });
}

describe("the borgstore-server-rest command line", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it("reads the password from --password-file and the user from the environment", async () => {
    writeFileSync(join(dir.path, "pw"), "testpass\n");
    const server = await startServer(["--backend", `FILE:${dir.path}/s1`, "--create", "--password-file", join(dir.path, "pw")], {
      BORGSTORE_SERVER_USERNAME: "testuser",
    });
    expect((await request(server.port, "POST", "/?cmd=quota")).status).toBe(200);
    expect((await request(server.port, "POST", "/?cmd=quota", { auth: false })).status).toBe(401);
    expect(server.stderr()).not.toContain("visible");
    expect(await server.stop()).toBe(0);
  });

  it("warns when the password is given on the command line (visible in ps)", async () => {
    const server = await startServer(["--backend", "memory:", "--username", "testuser", "--password", "testpass"]);
    expect(server.stderr()).toContain("--password is visible");
    expect((await request(server.port, "POST", "/?cmd=create")).status).toBe(200);
    expect(await server.stop()).toBe(0);
  });

  it("accepts the borgbackup-* permission shortcuts and enforces them (403)", async () => {
    const server = await startServer(["--backend", `FILE:${dir.path}/s2`, "--create", "--permissions", "borgbackup-read-only"], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
    const denied = await request(server.port, "POST", "/data/x", { body: "x" });
    expect(denied.status).toBe(403);
    expect(denied.body.toString()).toContain("One of permissions 'wW' required for 'data/x'");
    expect((await request(server.port, "POST", "/locks/x", { body: "x" })).status).toBe(200);
    expect(await server.stop()).toBe(0);
  });

  it("resolves FILE: paths relative to the working directory and ~ to the home directory", async () => {
    const { existsSync } = await import("node:fs");
    mkdirSync(join(dir.path, "home"));
    const home = await startServer(["--backend", "FILE:~/store", "--create"], { HOME: join(dir.path, "home") });
    expect((await request(home.port, "POST", "/x", { body: "x" })).status).toBe(200);
    expect(await home.stop()).toBe(0);
    expect(existsSync(join(dir.path, "home", "store", "x"))).toBe(true);
    mkdirSync(join(dir.path, "work"));
    const relative = await startServer(["--backend", "FILE:relative/store", "--create"], {}, join(dir.path, "work"));
    expect((await request(relative.port, "POST", "/y", { body: "y" })).status).toBe(200);
    expect(await relative.stop()).toBe(0);
    expect(existsSync(join(dir.path, "work", "relative", "store", "y"))).toBe(true);
  });

  it.each([
    [["--backend", "memory:", "--permissions", "not-a-shortcut"], "Invalid permissions"],
    [["--backend", "memory:", "--quota", "10"], "quota"],
    [["--backend", "nosuchscheme:/x"], "Invalid or unsupported Backend Storage URL"],
    [["--backend", "memory:", "--port", "http"], "expected an integer"],
    [[], "--backend"],
  ])("refuses bad arguments %j with a message", async (args, message) => {
    const { code, stderr } = await run(args as string[]);
    expect(code).not.toBe(0);
    expect(stderr).toContain(message);
  });
});
