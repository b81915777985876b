import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadHostingConfig } from "../src/hosting/config.js";
import { restoreKept } from "../src/hosting/delete-grace-restore.js";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

// Breaker BG: a client with an `owner` login tries to make protected values go away without the
// delete grace keeping them. Real server in this process, real files, raw HTTP requests.

const dir = tempDir("borgstore-hosting-breaker-bg-");
const LOGIN = "alice:apw";
let hosting: HostingServer;
let port: number;
let configPath: string;

beforeAll(async () => {
  writeHtpasswd(join(dir.path, "htpasswd"), { alice: "apw" });
  configPath = writeHostingConfig(
    dir.path,
    `file://${dir.path}/repos/{user}/{repo}`,
    '[repos."alice/nested"]\nprotect = ["data/00/"]',
    'delete_grace = "1d"',
  );
  ({ hosting, port } = await listenHosting(configPath));
});
afterAll(async () => {
  await hosting?.shutdown(1000);
  dir.remove();
});

const post = (target: string, body?: Uint8Array) => rawRequest(port, "POST", target, { login: LOGIN, ...(body ? { body } : {}) });
const del = (target: string) => rawRequest(port, "DELETE", target, { login: LOGIN });
const move = (repo: string, current: string, next: string) =>
  post(`/alice/${repo}/?cmd=move&current=${encodeURIComponent(current)}&new=${encodeURIComponent(next)}`);
const load = (repo: string, name: string) => rawRequest(port, "GET", `/alice/${repo}/${name}`, { login: LOGIN });

/** The names the grace kept for `repo` (decoded from the kept files' names). */
function keptNames(repo: string): string[] {
  const folder = join(dir.path, "state", "_delete-grace", "alice", repo);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((entry) => !entry.startsWith("."))
    .map((entry) => Buffer.from(entry.split("-").slice(3).join("-"), "base64url").toString());
}

async function newRepo(repo: string): Promise<void> {
  expect((await post(`/alice/${repo}/?cmd=create`)).status).toBe(200);
  for (const ns of ["data", "archives", "cache"]) expect((await post(`/alice/${repo}/${ns}?cmd=mkdir`)).status).toBe(200);
}

describe("delete grace against an owner login (breaker BG)", () => {
  it("a protected folder (or a protected namespace's own folder) cannot be moved out and its values deleted unkept", async () => {
    await newRepo("dirmove");
    expect((await post("/alice/dirmove/data/00/aa", Buffer.from("precious-1"))).status).toBe(200);
    expect((await post("/alice/dirmove/data/00/bb", Buffer.from("precious-2"))).status).toBe(200);
    const attempts = [
      await move("dirmove", "data/00", "cache/00"),
      await move("dirmove", "data", "cache/all"),
      await move("dirmove", "data", "elsewhere"),
    ];
    // Whatever the answers, every value either stays in data/ or is kept once it is deleted.
    for (const name of ["cache/00/aa", "cache/00/bb", "cache/all/00/aa", "cache/all/00/bb", "elsewhere/00/aa", "elsewhere/00/bb"])
      await del(`/alice/dirmove/${name}`);
    for (const [name, value] of [
      ["data/00/aa", "precious-1"],
      ["data/00/bb", "precious-2"],
    ] as const) {
      const answer = await load("dirmove", name);
      if (answer.status !== 200) expect(keptNames("dirmove")).toContain(name);
      else expect(answer.body).toBe(value);
    }
    expect(attempts.map((a) => a.status)).toEqual([403, 403, 403]);
  });

  it("a move from one protected name to another keeps the source, so a restore puts the value back under its own name", async () => {
    await newRepo("rename");
    expect((await post("/alice/rename/data/y", Buffer.from("precious-y"))).status).toBe(200);
    expect((await move("rename", "data/y", "data/z")).status).toBe(200);
    expect((await del("/alice/rename/data/z")).status).toBe(200);
    expect(keptNames("rename")).toContain("data/y");
  });

  it("a move of a name onto itself (also spelled with a doubled slash) keeps nothing and leaves the usage as it was", async () => {
    await newRepo("self");
    const value = Buffer.alloc(10_000, 7);
    expect((await post("/alice/self/data/x", value)).status).toBe(200);
    const before = (await hosting.repositories.report("alice")).get("self");
    for (const next of ["data/x", "data//x", "data/x"]) expect((await move("self", "data/x", next)).status).toBe(200);
    expect((await move("self", "data//x", "data/x")).status).toBe(200);
    expect((await load("self", "data/x")).bytes.equals(value)).toBe(true);
    expect(keptNames("self")).toEqual([]);
    expect((await hosting.repositories.report("alice")).get("self")).toMatchObject({ bytes: before?.bytes, objects: before?.objects });
  });

  it("a restore puts back the value a name held, whichever spelling of the name (data//x) the attacker overwrote it with", async () => {
    await newRepo("spelling");
    expect((await post("/alice/spelling/data/x", Buffer.from("precious"))).status).toBe(200);
    const since = Date.now();
    expect((await post("/alice/spelling/data//x", Buffer.from("garbage-1"))).status).toBe(200);
    expect((await post("/alice/spelling/data/x", Buffer.from("garbage-2"))).status).toBe(200);
    // The operator's restore (meant for a stopped server: this repository sees no request meanwhile).
    await restoreKept(await loadHostingConfig(configPath), "alice/spelling", since);
    expect((await load("spelling", "data/x")).body).toBe("precious");
  });

  it("a protected namespace below the top (data/00/) protects its names also when spelled data//00/…", async () => {
    await newRepo("nested");
    expect((await post("/alice/nested/data/00/aa", Buffer.from("precious"))).status).toBe(200);
    expect((await del("/alice/nested/data//00/aa")).status).toBe(200);
    expect(keptNames("nested")).toEqual(["data//00/aa"]);
  });

  it("a soft delete (a move to name.del and back) still keeps nothing", async () => {
    await newRepo("soft");
    expect((await post("/alice/soft/archives/a", Buffer.from("archive"))).status).toBe(200);
    expect((await move("soft", "archives/a", "archives/a.del")).status).toBe(200);
    expect((await move("soft", "archives/a.del", "archives/a")).status).toBe(200);
    expect(keptNames("soft")).toEqual([]);
    expect((await load("soft", "archives/a")).body).toBe("archive");
  });
});
