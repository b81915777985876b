import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { repositoriesIn } from "../src/hosting/discovered-repositories.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

describe("repositories found in the backend without a usage record", () => {
  const dirs: Array<{ remove(): void }> = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) dir.remove();
  });

  it("counts a repository whose record was deleted from the state folder against the user's quota", async () => {
    const dir = tempDir();
    dirs.push(dir);
    writeHtpasswd(join(dir.path, "htpasswd"), { alice: "apw" });
    mkdirSync(join(dir.path, "repos"));
    const config = writeHostingConfig(dir.path, `${pathToFileURL(join(dir.path, "repos")).href}/{user}/{repo}`, '[users.alice]\nquota = "1M"');
    const call = (port: number, method: string, target: string, body?: Buffer) => rawRequest(port, method, target, { login: "alice:apw", ...(body ? { body } : {}) });
    const first = await listenHosting(config);
    try {
      expect((await call(first.port, "POST", "/alice/one/?cmd=create")).status).toBe(200);
      expect((await call(first.port, "POST", "/alice/one/data/first", Buffer.alloc(900_000))).status).toBe(200);
    } finally {
      await first.hosting.shutdown(1000);
    }
    rmSync(join(dir.path, "state", "alice", "one.usage.json"));
    const again = await listenHosting(config);
    try {
      expect((await call(again.port, "POST", "/alice/two/?cmd=create")).status).toBe(200);
      expect((await call(again.port, "POST", "/alice/two/data/second", Buffer.alloc(900_000))).status).toBe(507);
    } finally {
      await again.hosting.shutdown(1000);
    }
  });

  it("lists the folders at the template's {repo} level, and nothing where {repo} is no whole segment after {user}", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const root = pathToFileURL(dir.path).href;
    for (const name of ["one", "two", ".hidden"]) mkdirSync(join(dir.path, "alice", name), { recursive: true });
    writeFileSync(join(dir.path, "alice", "file"), "x");
    expect((await repositoriesIn(`${root}/{user}/{repo}`, "alice")).sort()).toEqual(["one", "two"]);
    expect((await repositoriesIn(`${root}/{user}/{repo}/store`, "alice")).sort()).toEqual(["one", "two"]);
    expect(await repositoriesIn(`${root}/{user}/{repo}`, "bob")).toEqual([]);
    expect(await repositoriesIn(`${root}/{user}/r-{repo}`, "alice")).toEqual([]);
    expect(await repositoriesIn(`${root}/{repo}/{user}`, "alice")).toEqual([]);
  });
});
