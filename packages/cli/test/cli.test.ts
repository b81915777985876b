import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

let dir: string;
let url: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-cli-"));
  url = pathToFileURL(join(dir, "store")).href;
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function ok(args: string[], input?: Uint8Array) {
  const r = await runCli(args, { input });
  expect(r.stderr, `borgstore ${args.join(" ")}`).toBe("");
  expect(r.code).toBe(0);
  return r;
}

describe("borgstore CLI on a posixfs store", () => {
  it("creates a store, puts from a file and stdin, gets whole and partial values back", async () => {
    await ok([url, "create"]);
    const value = randomBytes(300_000);
    const file = join(dir, "value.bin");
    await writeFile(file, value);
    await ok([url, "put", "data/0123456789abcdef", file]);
    await ok([url, "put", "config/main", "-"], Buffer.from("hello world"));
    expect((await ok([url, "get", "data/0123456789abcdef"])).stdout.equals(value)).toBe(true);
    expect((await ok([url, "get", "config/main", "--offset", "6"])).stdout.toString()).toBe("world");
    expect((await ok([url, "get", "config/main", "--offset", "-5", "--size", "3"])).stdout.toString()).toBe("wor");
    const out = join(dir, "out.bin");
    await ok([url, "get", "data/0123456789abcdef", out]);
    expect((await readFile(out)).equals(value)).toBe(true);
  });

  it("stores data/ keys two levels deep, as borg 2's layout says", async () => {
    await ok([url, "create"]);
    await ok([url, "put", "data/0123456789abcdef", "-"], Buffer.from("x"));
    const r = await ok([url, "ls", "-r"]);
    expect(r.stdout.toString().split("\n")).toContain("data/0123456789abcdef");
    await expect(readFile(join(dir, "store/data/01/23/0123456789abcdef"), "utf8")).resolves.toBe("x");
  });

  it("lists as text, long format and JSON", async () => {
    await ok([url, "create"]);
    for (const k of ["cc", "aa", "bb"]) await ok([url, "put", `config/${k}`, "-"], Buffer.from(k));
    expect((await ok([url, "ls", "config"])).stdout.toString()).toBe("config/aa\nconfig/bb\nconfig/cc\n");
    expect((await ok([url, "ls", "config", "-l"])).stdout.toString()).toMatch(/^\s+2\s+\d{4}-\d\d-\d\dT.*config\/aa$/m);
    const items = JSON.parse((await ok([url, "ls", "config", "--json"])).stdout.toString());
    expect(items.map((i: { name: string }) => i.name)).toEqual(["config/aa", "config/bb", "config/cc"]);
    expect(items[0]).toMatchObject({ exists: true, size: 2, directory: false });
    expect(JSON.parse((await ok([url, "ls", "keys", "--json"])).stdout.toString())).toEqual([]);
  });

  it("soft-deletes, lists deleted items, undeletes, renames and removes", async () => {
    await ok([url, "create"]);
    await ok([url, "put", "config/main", "-"], Buffer.from("v"));
    await ok([url, "delete", "--soft", "config/main"]);
    expect((await ok([url, "ls", "config"])).stdout.toString()).toBe("");
    expect((await ok([url, "ls", "config", "--deleted"])).stdout.toString()).toBe("config/main\n");
    await ok([url, "undelete", "config/main"]);
    await ok([url, "mv", "config/main", "config/old"]);
    expect((await ok([url, "ls", "config"])).stdout.toString()).toBe("config/old\n");
    await ok([url, "rm", "config/old"]);
    expect((await ok([url, "ls", "config"])).stdout.toString()).toBe("");
  });

  it("hashes with the default sha256 and a chosen algorithm", async () => {
    await ok([url, "create"]);
    await ok([url, "put", "config/x", "-"], Buffer.from("hash me"));
    expect((await ok([url, "hash", "config/x", "-a", "blake3"])).stdout.toString().trim()).toBe(
      "e02b7e4520e277d4ef287f09c74fec4dd1df095b8b41a4d61dd4ed1589c4a281",
    );
    const json = JSON.parse((await ok([url, "--json", "hash", "config/x"])).stdout.toString());
    expect(json.digest).toBe("eb201af5aaf0d60629d3d2a61e466cfc0fedb517add831ecac5235e1daa963d6");
  });

  it("reports info, quota and per-namespace stats, as text and JSON", async () => {
    await ok([url, "create"]);
    await ok([url, "put", "data/0123456789abcdef", "-"], Buffer.from("12345"));
    const info = JSON.parse((await ok([url, "info", "data/0123456789abcdef", "--json"])).stdout.toString());
    expect(info).toMatchObject({ name: "data/0123456789abcdef", exists: true, size: 5, directory: false });
    expect(JSON.parse((await ok([url, "quota", "--json"])).stdout.toString())).toEqual({ limit: -1, usage: -1 });
    const stats = JSON.parse((await ok([url, "stats", "--json"])).stdout.toString());
    expect(stats.namespaces.find((n: { namespace: string }) => n.namespace === "data/")).toMatchObject({ items: 1, bytes: 5 });
    expect(stats.store.list_calls).toBeGreaterThan(0);
  });

  it("takes the URL from BORGSTORE_URL", async () => {
    await ok([url, "create"]);
    const r = await runCli(["ls"], { env: { BORGSTORE_URL: url } });
    expect(r.code).toBe(0);
  });

  it("exits with a code per error and says what went wrong on stderr", async () => {
    await ok([url, "create"]);
    const missing = await runCli([url, "get", "config/nothere"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/OBJECT_NOT_FOUND/);
    await ok([url, "put", "config/x", "-"], Buffer.from("x"));
    expect((await runCli([url, "create"])).code).toBe(5);
    expect((await runCli([url, "get", "../etc/passwd"])).code).toBe(8);
    expect((await runCli([url, "hash", "config/x", "-a", "nope"])).code).toBe(8);
    const badUrl = await runCli(["bogus:thing", "ls"]);
    expect(badUrl.code).toBe(9);
    expect(badUrl.stderr).toMatch(/BACKEND_URL_INVALID/);
    const noStore = await runCli([pathToFileURL(join(dir, "absent")).href, "ls"]);
    expect(noStore.code).toBe(4);
    expect((await runCli([url, "frobnicate"])).code).toBe(2);
    expect((await runCli(["ls"])).code).toBe(2);
  });

  it("prints help with examples for the program and every command", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/Examples:/);
    const commands = ["create", "destroy", "info", "ls", "get", "put", "rm", "mv", "delete", "undelete", "hash", "quota", "stats", "bench"];
    for (const cmd of commands) {
      const c = await runCli([cmd, "--help"]);
      expect(c.code, cmd).toBe(0);
      expect(c.stdout.toString()).toMatch(/Usage: borgstore/);
      expect(c.stdout.toString(), cmd).toMatch(/Examples:\n {2}borgstore /);
    }
  });

  it("keeps quiet on stderr when not on a terminal (no progress bars in pipes)", async () => {
    await ok([url, "create"]);
    const big = randomBytes(2_000_000);
    const r = await runCli([url, "put", "config/big", "-"], { input: big });
    expect(r.stderr).toBe("");
    expect((await ok([url, "get", "config/big"])).stdout.equals(big)).toBe(true);
  });
});

describe("borgstore bench", () => {
  it("measures a memory store and prints a table", async () => {
    const r = await ok(["bench", "memory:", "--sizes", "1k,64k", "--in-flight", "1,4", "--seconds", "0.2", "--max-count", "200"]);
    const text = r.stdout.toString();
    for (const op of ["store", "load", "info", "delete", "list"]) expect(text).toMatch(new RegExp(`^${op}\\s`, "m"));
  });

  it("measures a posixfs location as JSON and leaves nothing behind", async () => {
    const target = pathToFileURL(join(dir, "bench")).href;
    const r = await ok(["--json", "bench", target, "--sizes", "4k", "--in-flight", "16", "--seconds", "0.2", "--max-count", "100"]);
    const rows = JSON.parse(r.stdout.toString());
    expect(rows.find((x: { operation: string }) => x.operation === "store")).toMatchObject({ size: 4096, inFlight: 16 });
    expect(rows.every((x: { opsPerSec: number }) => x.opsPerSec > 0)).toBe(true);
  });

  it("refuses an existing store rather than touching it", async () => {
    await ok([url, "create"]);
    await ok([url, "put", "config/keep", "-"], Buffer.from("keep"));
    const r = await runCli(["bench", url, "--sizes", "1k", "--seconds", "0.1"]);
    expect(r.code).toBe(5);
    expect((await ok([url, "get", "config/keep"])).stdout.toString()).toBe("keep");
  });
});
