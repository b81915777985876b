import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { lstat, mkdtemp, readFile, readlink, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

// `get NAME FILE` must not rename its partial file over what FILE is: a FIFO, a device or a
// symlink is written through (as cp and curl -o do), and someone else's FILE.partial survives.
const NAME = "data/00112233445566778899aabbccddeeff";
const value = randomBytes(256 * 1024);
let dir: string;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-cli-get-"));
  url = pathToFileURL(join(dir, "store")).href;
  expect((await runCli([url, "create"])).stderr).toBe("");
  expect((await runCli([url, "put", NAME, "-"], { input: value })).stderr).toBe("");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function freshDir(name: string): Promise<string> {
  return mkdtemp(join(dir, `${name}-`));
}

describe("get NAME FILE when FILE is not a plain new file", () => {
  it("writes through a FIFO to its reader, and the FIFO stays a FIFO", async () => {
    const out = await freshDir("fifo");
    const fifo = join(out, "pipe");
    execFileSync("mkfifo", [fifo]);
    const reader = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    reader.stdout.on("data", (d: Buffer) => chunks.push(d));
    const readerDone = new Promise<number | null>((resolve) => reader.on("close", resolve));
    try {
      const r = await runCli([url, "get", NAME, fifo]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect((await lstat(fifo)).isFIFO()).toBe(true);
      expect(await readdir(out)).toEqual(["pipe"]);
      expect(await readerDone).toBe(0);
      expect(Buffer.concat(chunks).equals(value)).toBe(true);
    } finally {
      reader.kill(); // a get that replaced the FIFO never opened it: cat would wait forever
    }
  });

  it("follows a symlink: the link stays a link and its target gets the value", async () => {
    const out = await freshDir("link");
    await writeFile(join(out, "real.bin"), "old content");
    await symlink("real.bin", join(out, "link.bin"));
    const r = await runCli([url, "get", NAME, join(out, "link.bin")]);
    expect(r.stderr).toBe("");
    expect((await lstat(join(out, "link.bin"))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(out, "link.bin"))).toBe("real.bin");
    expect((await readFile(join(out, "real.bin"))).equals(value)).toBe(true);
    expect((await readdir(out)).sort()).toEqual(["link.bin", "real.bin"]);
  });

  it("follows a dangling symlink: its target is created, the link stays a link", async () => {
    const out = await freshDir("dangling");
    await symlink("new.bin", join(out, "link.bin"));
    const r = await runCli([url, "get", NAME, join(out, "link.bin")]);
    expect(r.stderr).toBe("");
    expect((await lstat(join(out, "link.bin"))).isSymbolicLink()).toBe(true);
    expect((await readFile(join(out, "new.bin"))).equals(value)).toBe(true);
  });

  it("leaves someone else's FILE.partial alone", async () => {
    const out = await freshDir("partial");
    await writeFile(join(out, "value.bin.partial"), "not yours");
    const r = await runCli([url, "get", NAME, join(out, "value.bin")]);
    expect(r.stderr).toBe("");
    expect(await readFile(join(out, "value.bin.partial"), "utf8")).toBe("not yours");
    expect((await readFile(join(out, "value.bin"))).equals(value)).toBe(true);
    expect((await readdir(out)).sort()).toEqual(["value.bin", "value.bin.partial"]);
  });

  it("leaves someone else's FILE.partial alone when the get fails", async () => {
    const out = await freshDir("partial-fail");
    await writeFile(join(out, "value.bin.partial"), "not yours");
    const r = await runCli([url, "get", "data/ffffffffffffffffffffffffffffffff", join(out, "value.bin")]);
    expect(r.code).not.toBe(0);
    expect(await readFile(join(out, "value.bin.partial"), "utf8")).toBe("not yours");
    expect(await readdir(out)).toEqual(["value.bin.partial"]);
  });

  it.skipIf(process.getuid?.() !== 0)("writes into a character device (root only: a null device in a temp dir)", async () => {
    const out = await freshDir("device");
    const device = join(out, "null");
    execFileSync("mknod", [device, "c", "1", "3"]);
    try {
      const r = await runCli([url, "get", NAME, device]);
      expect(r.stderr).toBe("");
      expect((await stat(device)).isCharacterDevice()).toBe(true);
      expect(await readdir(out)).toEqual(["null"]);
    } finally {
      await rm(device, { force: true });
    }
  });
});
