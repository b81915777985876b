import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// The README's quick start, run as a newcomer would: the committed HEAD cloned into a temp dir, a
// fresh HOME (empty npm cache and pnpm store), npm's global prefix in the temp dir, and a PATH
// without pnpm, so the install line has to bring its own. A README that drifts fails here.

const ROOT = resolve(import.meta.dirname, "..");

/** The command lines of the first sh block under "## Quick start": install, main job, tests. */
function quickStartCommands(readme: string): { install: string; main: string; test: string } {
  const section = readme.split(/^## /m).find((s) => s.startsWith("Quick start"));
  const block = section && /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  const lines = (block ?? "").split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  if (lines.length !== 3) throw new Error(`README quick start: expected 3 command lines, got ${JSON.stringify(lines)}`);
  const [install, main, test] = lines as [string, string, string];
  return { install, main, test };
}

const commands = quickStartCommands(readFileSync(join(ROOT, "README.md"), "utf8"));
const work = mkdtempSync(join(tmpdir(), "borgstore-quickstart-"));
let main: ChildProcess | undefined;

afterAll(async () => {
  // The main job's whole process group: pnpm, turbo's shell, the server.
  if (main?.pid && main.exitCode === null && main.signalCode === null) {
    const exited = new Promise((done) => main?.once("exit", done));
    process.kill(-main.pid, "SIGTERM");
    const timer = setTimeout(() => main?.pid && process.kill(-main.pid, "SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
  // A clone with node_modules and a pnpm store: tens of thousands of files.
  rmSync(work, { recursive: true, force: true });
}, 120_000);

/** A directory of links to every program on PATH except pnpm's (the first of each name wins, as on PATH). */
function pathWithoutPnpm(dir: string): string {
  mkdirSync(dir);
  const seen = new Set(["pnpm", "pnpx", "pn", "pnx"]);
  for (const entry of (process.env.PATH ?? "").split(delimiter)) {
    if (!entry || !existsSync(entry) || !statSync(entry).isDirectory()) continue;
    for (const name of readdirSync(entry)) {
      if (seen.has(name)) continue;
      seen.add(name);
      symlinkSync(join(entry, name), join(dir, name));
    }
  }
  return dir;
}

/** What a fresh login would have: no CI, no npm/pnpm settings, no pnpm on PATH. */
function freshEnvironment(): NodeJS.ProcessEnv {
  const home = join(work, "home");
  const prefix = join(work, "npm-global");
  mkdirSync(home);
  mkdirSync(prefix);
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: [join(prefix, "bin"), pathWithoutPnpm(join(work, "path"))].join(delimiter),
    NPM_CONFIG_PREFIX: prefix,
    // The machine's own npmrc (a cafile, a registry mirror) stays: it is part of the machine.
    NPM_CONFIG_GLOBALCONFIG: execFileSync("npm", ["config", "get", "globalconfig"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim(),
    LANG: "C.UTF-8",
  };
  // So is the way it reaches the registry: proxies and the certificates it trusts.
  const machine = ["TMPDIR", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"];
  machine.push("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR");
  for (const name of machine)
    if (process.env[name]) env[name] = process.env[name];
  return env;
}

/** Runs one README line through bash in `cwd`; rejects with its output when it fails. */
function runLine(line: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn("bash", ["-c", line], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) done(output);
      else fail(new Error(`\`${line}\` failed (${code ?? signal}):\n${output.slice(-4000)}`));
    });
  });
}

function headRoot(port: number): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host: "127.0.0.1", port, method: "HEAD", path: "/", headers: { accept: "application/vnd.x.borgstore.rest.v1" } });
    req.once("response", (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.once("error", fail);
    req.end();
  });
}

describe("the README's quick start", () => {
  it(".ci/run runs exactly the README's test command", () => {
    const ciLines = readFileSync(join(ROOT, ".ci/run"), "utf8")
      .split("\n")
      .map((l) => l.trim());
    expect(ciLines).toContain(commands.test);
  });

  it("installs and starts the server in a fresh clone, as written (flags pass through)", async () => {
    const repo = join(work, "repo");
    const head = execFileSync("git", ["-C", ROOT, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    execFileSync("git", ["clone", "--quiet", "--no-checkout", ROOT, repo]);
    execFileSync("git", ["-C", repo, "checkout", "--quiet", head]);
    const env = freshEnvironment();
    await expect(runLine("command -v pnpm", repo, env, 10_000)).rejects.toThrow();

    await runLine(commands.install, repo, env, 240_000);

    // The main job, with a flag passed through: a free port, printed on stderr once it listens.
    main = spawn("bash", ["-c", `${commands.main} --port 0`], { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    const port = await new Promise<number>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`no "serving … on http://…" within 180 s:\n${output.slice(-4000)}`)), 180_000);
      const scan = (d: Buffer) => {
        output += d.toString();
        const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
        if (m) {
          clearTimeout(timer);
          done(Number(m[1]));
        }
      };
      main?.stdout?.on("data", scan);
      main?.stderr?.on("data", scan);
      main?.once("exit", (code) => fail(new Error(`\`${commands.main}\` exited with ${code}:\n${output.slice(-4000)}`)));
    });
    expect(port, "--port 0 reached the server (5618 is its default)").not.toBe(5618);
    expect(await headRoot(port)).toBe(200);
  }, 480_000);
});
