import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

/** Our REST server's CLI, a real child process on a free port (and on PATH for rest:// URLs). */
const SERVER_CLI = fileURLToPath(new URL("../../server/dist/cli.js", import.meta.url));

let dir: string;
let server: ChildProcess;
let httpUrl: string;
let pathWithServer: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-cli-rest-"));
  server = spawn(
    process.execPath,
    [SERVER_CLI, "--port", "0", "--backend", `FILE:${join(dir, "http-store")}`, "--create"],
    { env: { ...process.env, BORGSTORE_SERVER_USERNAME: "u", BORGSTORE_SERVER_PASSWORD: "p w" }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  const port = await new Promise<number>((resolve, reject) => {
    server.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) resolve(Number(m[1]));
    });
    server.once("exit", (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
  httpUrl = `http://u:p%20w@127.0.0.1:${port}/`;
  const bin = join(dir, "bin");
  await mkdir(bin);
  await writeFile(join(bin, "borgstore-server-rest"), `#!/bin/sh\nexec "${process.execPath}" "${SERVER_CLI}" "$@"\n`);
  await chmod(join(bin, "borgstore-server-rest"), 0o755);
  pathWithServer = `${bin}:${process.env.PATH}`;
});

afterAll(async () => {
  server?.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
});

describe("borgstore CLI against our REST server (real child process)", () => {
  it("puts, lists, gets and hashes over HTTP with credentials in the URL", async () => {
    const value = randomBytes(1_500_000);
    const put = await runCli([httpUrl, "put", "data/00112233445566778899", "-"], { input: value });
    expect(put.stderr).toBe("");
    expect(put.code).toBe(0);
    const ls = await runCli([httpUrl, "ls", "data"]);
    expect(ls.stdout.toString()).toBe("data/00112233445566778899\n");
    const get = await runCli([httpUrl, "get", "data/00112233445566778899"]);
    expect(get.code).toBe(0);
    expect(get.stdout.equals(value)).toBe(true);
    const part = await runCli([httpUrl, "get", "data/00112233445566778899", "--offset", "-10"]);
    expect(part.stdout.equals(value.subarray(-10))).toBe(true);
    const hash = await runCli([httpUrl, "hash", "data/00112233445566778899"]);
    expect(hash.stdout.toString().trim()).toBe(createHash("sha256").update(value).digest("hex"));
  });

  it("reports a wrong password as a failure, not as data", async () => {
    const r = await runCli([httpUrl.replace("p%20w", "wrong"), "ls"]);
    expect(r.code).not.toBe(0);
    expect(r.stdout.toString()).toBe("");
  });

  it("creates and uses a store over stdio (rest:///path spawns borgstore-server-rest)", async () => {
    const url = `rest:///${join(dir, "stdio-store")}`;
    const env = { PATH: pathWithServer };
    expect((await runCli([url, "create"], { env })).code).toBe(0);
    expect((await runCli([url, "put", "config/main", "-"], { input: Buffer.from("over stdio"), env })).code).toBe(0);
    const get = await runCli([url, "get", "config/main"], { env });
    expect(get.stderr).toBe("");
    expect(get.stdout.toString()).toBe("over stdio");
    const info = JSON.parse((await runCli([url, "info", "config/main", "--json"], { env })).stdout.toString());
    expect(info).toMatchObject({ exists: true, size: 10, directory: false });
  });

  it("benchmarks the server through the client", async () => {
    const r = await runCli([
      "--json",
      "bench",
      `rest:///${join(dir, "bench-store")}`,
      "--sizes",
      "1k",
      "--in-flight",
      "1,8",
      "--seconds",
      "0.3",
      "--max-count",
      "200",
    ], { env: { PATH: pathWithServer } });
    expect(r.stderr).toBe("");
    const rows = JSON.parse(r.stdout.toString());
    expect(rows.filter((x: { operation: string }) => x.operation === "load")).toHaveLength(2);
  });
});
