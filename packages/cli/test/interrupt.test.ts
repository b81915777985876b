import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LimitingProxy, filesBelow, startCli, startRestServer, waitFor } from "./cli-process.js";
import { CLI, runCli } from "./run-cli.js";

const NAME = "data/00112233445566778899aabbccddeeff";
let dir: string;
let server: { port: number; stop(): void };
let serverDir: string;
const credentials = { username: "u", password: "secret pw" };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-cli-interrupt-"));
  serverDir = join(dir, "served");
  server = await startRestServer(serverDir, credentials);
});

afterAll(async () => {
  server?.stop();
  await rm(dir, { recursive: true, force: true });
});

function httpUrl(port = server.port, password = credentials.password): string {
  return `http://${credentials.username}:${encodeURIComponent(password)}@127.0.0.1:${port}/`;
}

async function freshDir(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  return path;
}

describe("Ctrl-C during put leaves nothing behind", () => {
  it("put - to a local store: SIGINT mid-stream exits 130 and leaves no temp file in the store", async () => {
    const storeDir = join(dir, "local-store");
    const url = pathToFileURL(storeDir).href;
    expect((await runCli([url, "create"])).code).toBe(0);
    const before = await filesBelow(storeDir);
    const put = startCli([url, "put", NAME, "-"]);
    put.child.stdin.write(randomBytes(4 * 1024 * 1024));
    // The value streams into a hidden temp file next to its final place; wait until it is there.
    await waitFor("the temp file to grow", async () => {
      const files = await filesBelow(storeDir);
      for (const f of files.filter((f) => !before.includes(f))) if ((await stat(join(storeDir, f))).size > 0) return true;
      return false;
    });
    put.child.kill("SIGINT");
    const code = await put.exited;
    expect(put.stderr()).toContain("ABORTED");
    expect(put.stderr()).not.toMatch(/\n\s+at /); // no stack trace
    expect(code).toBe(130);
    expect(await filesBelow(storeDir)).toEqual(before);
  });

  it("put - to an http URL: SIGINT while spooling exits 130 and leaves no spool in TMPDIR, nothing on the server", async () => {
    const tmp = await freshDir("tmp-put-http");
    const before = await filesBelow(serverDir);
    const put = startCli([httpUrl(), "put", NAME, "-"], { TMPDIR: tmp });
    // More than the client keeps in memory (8 MiB): it spools to a file in TMPDIR.
    put.child.stdin.write(randomBytes(12 * 1024 * 1024));
    await waitFor("the spool file", async () => (await filesBelow(tmp)).length > 0);
    put.child.kill("SIGINT");
    const code = await put.exited;
    expect(put.stderr()).toContain("ABORTED");
    expect(code).toBe(130);
    expect(await readdir(tmp)).toEqual([]);
    expect(await filesBelow(serverDir)).toEqual(before);
  });
});

describe("get NAME FILE writes FILE.partial and renames it at the end (like rclone)", () => {
  const value = randomBytes(8 * 1024 * 1024);

  beforeAll(async () => {
    const put = await runCli([httpUrl(), "put", "data/ffeeddccbbaa99887766554433221100", "-"], { input: value });
    expect(put.stderr).toBe("");
  });

  it("a transfer cut mid-way fails, leaves neither FILE nor FILE.partial, and an existing FILE unchanged", async () => {
    const proxy = await LimitingProxy.start(server.port, 1024 * 1024, "cut");
    try {
      const target = join(await freshDir("get-cut"), "value.bin");
      const fresh = await runCli([httpUrl(proxy.port), "get", "data/ffeeddccbbaa99887766554433221100", target]);
      expect(fresh.code, fresh.stderr).not.toBe(0);
      expect(await readdir(join(dir, "get-cut"))).toEqual([]);
      await writeFile(target, "the old content");
      const over = await runCli([httpUrl(proxy.port), "get", "data/ffeeddccbbaa99887766554433221100", target]);
      expect(over.code, over.stderr).not.toBe(0);
      expect(await readFile(target, "utf8")).toBe("the old content");
      expect(await readdir(join(dir, "get-cut"))).toEqual(["value.bin"]);
    } finally {
      await proxy.stop();
    }
  });

  it("SIGINT during a stalled get exits 130 and removes FILE.partial", async () => {
    const proxy = await LimitingProxy.start(server.port, 1024 * 1024, "stall");
    try {
      const out = await freshDir("get-stall");
      const get = startCli([httpUrl(proxy.port), "get", "data/ffeeddccbbaa99887766554433221100", join(out, "value.bin")]);
      await waitFor("FILE.partial", async () => (await readdir(out)).includes("value.bin.partial"));
      get.child.kill("SIGINT");
      expect(await get.exited).toBe(130);
      expect(await readdir(out)).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it("a complete get leaves only FILE, with the whole value", async () => {
    const out = await freshDir("get-ok");
    const r = await runCli([httpUrl(), "get", "data/ffeeddccbbaa99887766554433221100", join(out, "value.bin")]);
    expect(r.stderr).toBe("");
    expect(await readdir(out)).toEqual(["value.bin"]);
    expect((await readFile(join(out, "value.bin"))).equals(value)).toBe(true);
  });
});

describe("commands that do not clean up", () => {
  it("still die at the first Ctrl-C (bench)", async () => {
    const bench = startCli(["bench", "memory:", "--sizes", "1k", "--in-flight", "1", "--seconds", "60"]);
    await waitFor("the bench to start", async () => bench.stdout().length > 0);
    bench.child.kill("SIGINT");
    expect(await bench.exited).toBe("SIGINT");
  });
});

describe("a closed stdout ends a command quietly", () => {
  it("ls -r | head -1 through a real pipe exits 0 without a stack trace", async () => {
    const storeDir = join(dir, "many");
    const url = pathToFileURL(storeDir).href;
    expect((await runCli([url, "create"])).code).toBe(0);
    // ~150 KB of listing: more than a pipe holds, so borgstore writes after head has gone.
    await mkdir(join(storeDir, "junk"));
    for (let i = 0; i < 3000; i++) await writeFile(join(storeDir, "junk", i.toString(16).padStart(40, "0")), "");
    const shell = spawnSync(
      "bash",
      ["-c", `"${process.execPath}" "${CLI}" "$1" ls -r | head -1; exit "\${PIPESTATUS[0]}"`, "bash", url],
      { encoding: "utf8", env: { ...process.env, BORGSTORE_URL: "" } },
    );
    expect(shell.stderr).toBe("");
    expect(shell.stdout).toBe("junk/\n");
    expect(shell.status).toBe(0);
  });
});

describe("a closed stdout during get", () => {
  it("get NAME - | head -c 10 through a real pipe exits 0 without a stack trace", async () => {
    const storeDir = join(dir, "get-pipe");
    const url = pathToFileURL(storeDir).href;
    expect((await runCli([url, "create"])).code).toBe(0);
    const value = randomBytes(4 * 1024 * 1024);
    expect((await runCli([url, "put", NAME, "-"], { input: value })).code).toBe(0);
    const shell = spawnSync(
      "bash",
      ["-c", `"${process.execPath}" "${CLI}" "$1" get "$2" - | head -c 10; exit "\${PIPESTATUS[0]}"`, "bash", url, NAME],
      { env: { ...process.env, BORGSTORE_URL: "" } },
    );
    expect(shell.stderr.toString()).toBe("");
    expect(shell.stdout.equals(value.subarray(0, 10))).toBe(true);
    expect(shell.status).toBe(0);
  });
});

describe("a wrong password", () => {
  it("fails with AUTHENTICATION_FAILED, its own exit code 14 and a message that never shows the password", async () => {
    const r = await runCli([httpUrl(server.port, "wrong guess"), "ls"]);
    expect(r.stdout.toString()).toBe("");
    expect(r.stderr).toContain("AUTHENTICATION_FAILED");
    expect(r.stderr).toContain("check the user name and password");
    expect(r.stderr).not.toContain("wrong");
    expect(r.code).toBe(14);
    expect((await runCli(["--help"])).stdout.toString()).toContain("14 authentication failed");
  });
});
