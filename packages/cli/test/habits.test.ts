import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { parseSize } from "@borgstore/core";
import { afterAll, describe, expect, it } from "vitest";
import { progressPayload } from "../src/progress.js";
import { SERVER_CLI } from "./cli-process.js";
import { CLI, runCli } from "./run-cli.js";

const dir = mkdtempSync(join(tmpdir(), "borgstore-cli-habits-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = async (): Promise<string> => {
  const path = join(dir, `s${n++}`);
  expect((await runCli([path, "create"])).code).toBe(0);
  return path;
};
const version = (pkg: string) => JSON.parse(readFileSync(new URL(`../../${pkg}/package.json`, import.meta.url), "utf8")).version;

/** Runs `cmd` on a pseudo-terminal (util-linux `script`), feeding `input`, as a person at a terminal would. */
function onTerminal(cmd: string, input: string, cwd = dir): { code: number; output: string } {
  const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { input, cwd, encoding: "utf8", env: { ...process.env, BORGSTORE_URL: "", BORGSTORE_REPO: "" } });
  return { code: r.status ?? -1, output: r.stdout };
}
const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("the store argument, as restic and rclone users expect it", () => {
  it("global options go before the URL, between URL and command, or after the command", async () => {
    const store = await fresh();
    for (const args of [["--json", store, "quota"], [store, "--json", "quota"], [store, "quota", "--json"]]) {
      const r = await runCli(args);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout.toString())).toEqual({ limit: -1, usage: -1 });
    }
  });

  it("-r/--repo and BORGSTORE_REPO name the store; after the command -r is still ls's --recursive", async () => {
    const store = await fresh();
    expect((await runCli(["-r", store, "put", "data/0011", "-"], { input: Buffer.from("x") })).code).toBe(0);
    expect((await runCli([`--repo=${store}`, "--json", "quota"])).code).toBe(0);
    const listing = await runCli(["--repo", store, "ls", "-r"]);
    expect(listing.stdout.toString()).toContain("data/0011");
    const viaEnv = await runCli(["ls", "-r"], { env: { BORGSTORE_REPO: store } });
    expect(viaEnv.code).toBe(0);
    expect(viaEnv.stdout.toString()).toContain("data/0011");
  });

  it("a plain path, absolute or relative, is the store at that directory (its file:// URL)", async () => {
    const store = await fresh();
    await runCli([pathToFileURL(store).href, "put", "config/main", "-"], { input: Buffer.from("cfg") });
    const absolute = await runCli([store, "get", "config/main"]);
    expect(absolute.stdout.toString()).toBe("cfg");
    const rel = relative(process.cwd(), store);
    const relativeRun = await runCli([rel.startsWith(".") ? rel : `./${rel}`, "get", "config/main"]);
    expect(relativeRun.stderr).toBe("");
    expect(relativeRun.stdout.toString()).toBe("cfg");
  });

  it("no store at all is a usage error (exit 2) that says where a store goes", async () => {
    const r = await runCli(["quota"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no store: give its URL or path before the command, as -r URL, or in BORGSTORE_REPO/);
  });

  it("`--` ends the options: a store path starting with '-' follows it", async () => {
    const store = await fresh();
    await runCli([store, "put", "config/main", "-"], { input: Buffer.from("dashed") });
    const parent = mkdtempSync(join(dir, "-dashed"));
    spawnSync("ln", ["-s", store, join(parent, "store")]);
    const r = await runCli(["--", `${relative(dir, parent)}/store`, "get", "config/main"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.stdout.toString()).toBe("dashed");
  });

  it("a usage error is one error line and a pointer to --help, not the whole help", async () => {
    const store = await fresh();
    const unknownOption = await runCli([store, "ls", "--bogus"]);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toBe("error: unknown option '--bogus'\n(see 'borgstore ls --help')\n");
    const unknownCommand = await runCli([store, "frobnicate"]);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toBe("error: unknown command 'frobnicate'\n(see 'borgstore --help')\n");
    // A lone word is the store: then the command is what is missing, and the error says which exist.
    const noCommand = await runCli([store]);
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toMatch(/^borgstore: no command for the store '.*' \(commands: create, destroy, .*bench\)/);
    expect(noCommand.stderr.split("\n").length).toBeLessThanOrEqual(2);
  });

  it("--version prints each binary's package version", async () => {
    const cli = await runCli(["--version"]);
    expect(cli.code).toBe(0);
    expect(cli.stdout.toString().trim()).toBe(version("cli"));
    const server = spawnSync(process.execPath, [SERVER_CLI, "--version"], { encoding: "utf8" });
    expect(server.status).toBe(0);
    expect(server.stdout.trim()).toBe(version("server"));
  });
});

describe("answers and errors", () => {
  it("info of a missing item exits 3 (as get does), and --json still prints exists: false", async () => {
    const store = await fresh();
    const text = await runCli([store, "info", "data/0123"]);
    expect(text.code).toBe(3);
    expect(text.stderr).toBe("borgstore: OBJECT_NOT_FOUND: data/0123 does not exist\n");
    const json = await runCli([store, "--json", "info", "data/0123"]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout.toString())).toMatchObject({ name: "data/0123", exists: false });
  });

  it("errors name the item as typed, not as nested on disk, and a system error's code is not doubled", async () => {
    const store = await fresh();
    const missing = await runCli([store, "get", "data/nope"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe("borgstore: OBJECT_NOT_FOUND: data/nope does not exist\n");
    expect(missing.stderr).not.toContain("no/pe");
    const noFile = await runCli([store, "put", "data/x", join(dir, "no-such-file")]);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toMatch(/^borgstore: ENOENT: no such file or directory/);
    expect(noFile.stderr).not.toContain("ENOENT: ENOENT");
  });

  it("put of a directory, undelete of what is not soft-deleted, a bare -r and a bad sftp URL with a password say so plainly", async () => {
    const store = await fresh();
    const dirPut = await runCli([store, "put", "data/x", dir]);
    expect(dirPut.code).toBe(8);
    expect(dirPut.stderr).toBe(`borgstore: INVALID_ARGUMENT: ${dir} is a directory: give a file, or - for stdin\n`);
    await runCli([store, "put", "config/u", "-"], { input: Buffer.from("u") });
    for (const args of [["undelete", "config/u"], ["info", "--deleted", "config/u"], ["rm", "--deleted", "config/u"]]) {
      const r = await runCli([store, ...args]);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe("borgstore: OBJECT_NOT_FOUND: config/u (soft-deleted) does not exist\n");
    }
    const bareRepo = await runCli(["-r"]);
    expect(bareRepo.code).toBe(2);
    expect(bareRepo.stderr).toMatch(/-r needs the store's URL or path/);
    const badSftp = await runCli(["sftp://user:s3cr3tpw@127.0.0.1:notaport//x", "quota"]);
    expect(badSftp.code).toBe(9);
    expect(badSftp.stderr).not.toContain("s3cr3tpw");
  });

  it("rest:// without borgstore-server-rest on PATH says so, in the child's own words, and is not retried as a lost connection", async () => {
    const r = await runCli(["rest:///srv/x", "ls"], { env: { PATH: "/usr/bin:/bin" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stdio server could not be started \(borgstore-server-rest, exit code 127\).*not found/);
    expect(r.stderr).not.toMatch(/EOF while|broken pipe/);
  });
});

describe.skipIf(!hasScript && process.env.CI !== "true")("on a terminal", () => {
  it("destroy asks first: anything but yes keeps the store (exit 2); yes or --yes destroys it", async () => {
    const store = await fresh();
    const no = onTerminal(`${process.execPath} ${CLI} ${store} destroy`, "no\n");
    expect(no.output).toContain(`Destroy the store at ${pathToFileURL(store).href} and everything in it?`);
    expect(no.code).toBe(2);
    expect(existsSync(store)).toBe(true);
    const yes = onTerminal(`${process.execPath} ${CLI} ${store} destroy`, "yes\n");
    expect(yes.code).toBe(0);
    expect(existsSync(store)).toBe(false);
    const other = await fresh();
    const forced = onTerminal(`${process.execPath} ${CLI} ${other} destroy --yes`, "");
    expect(forced.output).not.toContain("Destroy the store");
    expect(forced.code).toBe(0);
    expect(existsSync(other)).toBe(false);
  });

  it("without a terminal destroy does not ask (scripts and cron keep working)", async () => {
    const store = await fresh();
    const r = await runCli([store, "destroy"]);
    expect(r.code).toBe(0);
    expect(existsSync(store)).toBe(false);
  });

  it("put shows progress with human units, rate and ETA", async () => {
    const store = await fresh();
    const file = join(dir, "big.bin");
    writeFileSync(file, Buffer.alloc(3 * 1024 * 1024, 7));
    const r = onTerminal(`${process.execPath} ${CLI} ${store} put data/big ${file}`, "");
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/put data\/big \[.*\] 100% 3\.0 MiB \/ 3\.0 MiB, [\d.]+ (B|KiB|MiB|GiB)\/s, ETA \d+s/);
  });
});

describe("one size parser everywhere", () => {
  it("reads bytes and k/M/G/T units as powers of 1024 and refuses anything else", () => {
    expect(parseSize("100")).toBe(100);
    expect(parseSize("64k")).toBe(65536);
    expect(parseSize("4MiB")).toBe(4 * 1024 ** 2);
    expect(parseSize("10G")).toBe(10 * 1024 ** 3);
    expect(parseSize("1.5 TB")).toBe(1.5 * 1024 ** 4);
    for (const bad of ["", "-1", "10X", "1.3", "k", "1e3", "0x10", "99999999999P"]) expect(() => parseSize(bad)).toThrow(/not a size/);
  });

  it("progress words use it backwards: human sizes and a rate", () => {
    expect(progressPayload(3 * 1024 * 1024, 6 * 1024 * 1024, 2000)).toEqual({ done_h: "3.0 MiB", total_h: "6.0 MiB", rate: "1.5 MiB/s" });
    expect(progressPayload(0, undefined, 0)).toEqual({ done_h: "0 B", total_h: "?", rate: "0 B/s" });
  });

  it("the server's --quota takes 10k as 10,240 bytes (it used to refuse units) and refuses 10X", async () => {
    const bad = spawnSync(process.execPath, [SERVER_CLI, "--quota", "10X", "--backend", `FILE:${dir}/q`], { encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('not a size: "10X"');
    const server = spawn(process.execPath, [SERVER_CLI, "--port", "0", "--quota", "10k", "--backend", `FILE:${dir}/q`, "--create"], {
      env: { ...process.env, BORGSTORE_SERVER_USERNAME: "u", BORGSTORE_SERVER_PASSWORD: "p" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    try {
      let err = "";
      const port = await new Promise<number>((resolve, reject) => {
        server.stderr.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
          if (m) resolve(Number(m[1]));
        });
        server.once("exit", (code) => reject(new Error(`server exited with ${code}: ${err}`)));
      });
      const r = await runCli(["--json", `http://u:p@127.0.0.1:${port}/`, "quota"]);
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout.toString()).limit).toBe(10240);
    } finally {
      const exited = new Promise((resolve) => server.once("exit", resolve));
      server.kill("SIGTERM");
      await exited;
    }
  });
});
