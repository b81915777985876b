import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { type Server, createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { startRestServer } from "./cli-process.js";
import { CLI, runCli } from "./run-cli.js";

let dir: string;
let url: string;
let storeDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-cli-options-"));
  storeDir = join(dir, "store");
  url = pathToFileURL(storeDir).href;
});
// A REST server stopped by the last test may still be shutting down in its store below dir: retry the removal.
afterEach(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

async function ok(args: string[], input?: Uint8Array) {
  const r = await runCli(args, { input });
  expect(r.stderr, `borgstore ${args.join(" ")}`).toBe("");
  expect(r.code).toBe(0);
  return r;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const NAME = "data/0123abcd";

describe("borgstore layout options", () => {
  // One store, three layouts: the store does not record one, each command nests as it is told.
  it("--layout FILE (both JSON forms) and --levels NS=L decide the nesting", async () => {
    await ok([url, "create"]);
    const long = join(dir, "long.json");
    await writeFile(long, JSON.stringify({ "data/": { levels: [1] }, "": { levels: [0] } }));
    await ok([url, "--layout", long, "put", NAME, "-"], Buffer.from("one level"));
    expect(await readFile(join(storeDir, "data", "01", "0123abcd"), "utf8")).toBe("one level");

    const short = join(dir, "short.json");
    await writeFile(short, JSON.stringify({ "data/": [0], "": [0] }));
    await ok([url, "--layout", short, "put", "data/4567abcd", "-"], Buffer.from("flat"));
    expect(await readFile(join(storeDir, "data", "4567abcd"), "utf8")).toBe("flat");

    await ok([url, "--levels", "data/=1", "put", "data/89abcdef", "-"], Buffer.from("x"));
    expect(existsSync(join(storeDir, "data", "89", "89abcdef"))).toBe(true);
  });
});

describe("borgstore -q on a terminal", () => {
  /** Runs the CLI under a pseudo-terminal (util-linux `script`), where progress bars are drawn. */
  function onTerminal(args: string[]): string {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ");
    return execFileSync("script", ["-qefc", command, "/dev/null"], { encoding: "utf8", env: { ...process.env, BORGSTORE_URL: "" } });
  }

  it("draws a progress bar for put without -q, and none with it", async () => {
    await ok([url, "create"]);
    const file = join(dir, "value");
    await writeFile(file, randomBytes(4 * 1024 * 1024));
    expect(onTerminal([url, "put", "config/a", file])).toContain("put config/a");
    expect(onTerminal([url, "-q", "put", "config/b", file])).not.toContain("put config/b");
    expect(existsSync(join(storeDir, "config", "b"))).toBe(true);
  });
});

describe("borgstore put from a pipe", () => {
  it("stores what a FIFO delivers (its stat size of 0 is not the value's size)", async () => {
    await ok([url, "create"]);
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const writer = spawn("sh", ["-c", 'printf "through a pipe" > "$1"', "sh", fifo]);
    const written = new Promise((resolve) => writer.once("close", resolve));
    await ok([url, "put", "config/piped", fifo]);
    await written;
    expect(await readFile(join(storeDir, "config", "piped"), "utf8")).toBe("through a pipe");
  });
});

describe("borgstore destroy", () => {
  it("removes the store and everything in it; a second destroy finds no store (exit 4)", async () => {
    await ok([url, "create"]);
    await writeFile(join(storeDir, "main"), "gone soon");
    await ok([url, "destroy"]);
    expect(existsSync(storeDir)).toBe(false);
    const again = await runCli([url, "destroy"]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/BACKEND_DOES_NOT_EXIST/);
  });
});

describe("borgstore exit codes", () => {
  it("6 for a permission denied and 7 for an exceeded quota (our REST server enforcing both)", async () => {
    const server = await startRestServer(join(dir, "served"), { username: "u", password: "p" }, [
      "--permissions",
      JSON.stringify({ "": "lr", data: "lrwWD" }),
      "--quota",
      "1000",
    ]);
    try {
      const rest = `http://u:p@127.0.0.1:${server.port}/`;
      const denied = await runCli([rest, "put", "config/x", "-"], { input: Buffer.from("x") });
      expect(denied.stderr).toMatch(/PERMISSION_DENIED/);
      expect(denied.code).toBe(6);
      const over = await runCli([rest, "put", NAME, "-"], { input: randomBytes(5000) });
      expect(over.stderr).toMatch(/QUOTA_EXCEEDED/);
      expect(over.code).toBe(7);
    } finally {
      server.stop();
    }
  });

  it("10 when the server cannot be reached", async () => {
    const r = await runCli([`http://127.0.0.1:${await freePort()}/`, "ls"]);
    expect(r.stderr).toMatch(/BACKEND_CONNECTION_ERROR/);
    expect(r.code).toBe(10);
  });

  it("12 when a file delivers more bytes than its size said (nothing is stored)", async () => {
    await ok([url, "create"]);
    // A regular file whose stat size is 0 though it has contents: the size check catches it.
    const r = await runCli([url, "put", "config/version", "/proc/version"]);
    expect(r.stderr).toMatch(/CONTENT_LENGTH_MISMATCH/);
    expect(r.code).toBe(12);
    expect(existsSync(join(storeDir, "config", "version"))).toBe(false);
  });

  describe("from a server's answer (an HTTP server answering every request after open() with one status)", () => {
    let server: Server | undefined;
    afterAll(() => server?.close());

    async function answering(status: number, message: string): Promise<string> {
      server?.close();
      const s = createHttpServer((req, res) => {
        req.resume();
        // The client's open() asks HEAD / for the server's features first: let it through.
        if (req.method === "HEAD") return res.writeHead(200).end();
        res.writeHead(status, { "content-type": "text/html" });
        res.end(`<html><body><p>Message: ${message}.</p></body></html>`);
      });
      server = s;
      await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(s.address() as { port: number }).port}/`;
    }

    it("11 for a read range error (HTTP 416)", async () => {
      const r = await runCli([await answering(416, "Read range error"), "get", "config/x"]);
      expect(r.stderr).toMatch(/READ_RANGE_ERROR/);
      expect(r.code).toBe(11);
    });

    it("13 for a wrong open state (HTTP 412 'backend must be open')", async () => {
      const r = await runCli([await answering(412, "backend must be open"), "ls"]);
      expect(r.stderr).toMatch(/BACKEND_MUST_BE_OPEN/);
      expect(r.code).toBe(13);
    });
  });
});
