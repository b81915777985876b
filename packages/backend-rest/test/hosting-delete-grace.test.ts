import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCodes } from "@borgstore/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { type RunningServer, freePort, startHosting } from "./helpers/server.js";

// Our client against a hosting-mode repository with a delete grace: the client sees what it would
// without grace; the server's kept area (packages/server/test/hosting-delete-grace*.test.ts) holds what went away.
const root = mkdtempSync(join(tmpdir(), "borgstore-rest-grace-"));
let server: RunningServer;

beforeAll(async () => {
  execFileSync("htpasswd", ["-cbB", "-C", "4", join(root, "htpasswd"), "alice", "apw"], { stdio: "ignore" });
  const port = await freePort();
  writeFileSync(
    join(root, "hosting.toml"),
    `htpasswd = "htpasswd"\n[listen]\nport = ${port}\n[repositories]\nbackend = "file://${root}/repos/{user}/{repo}"\nauto_create = true\ndelete_grace = "1h"\n`,
  );
  server = await startHosting(join(root, "hosting.toml"), port);
});

afterAll(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

describe("@borgstore/backend-rest and a repository with delete grace", () => {
  it("stores, overwrites, moves and deletes as without grace; destroy is refused; the server kept every value that went away", async () => {
    const backend = new RestBackend({ url: `${server.url.replace("//", "//alice:apw@")}/alice/laptop/`, retryDelay: 50, env: {} });
    await backend.create();
    await backend.open();
    try {
      await backend.store("data/aa", Buffer.from("one"));
      await backend.store("data/aa", Buffer.from("two"));
      await backend.move("data/aa", "data/aa.del");
      await backend.delete("data/aa.del");
      await expect(backend.load("data/aa")).rejects.toMatchObject({ code: ErrorCodes.OBJECT_NOT_FOUND });
      expect((await backend.info("data/aa.del")).exists).toBe(false);
      const listed: string[] = [];
      for await (const item of backend.list("data")) listed.push(item.name);
      expect(listed).toEqual([]);
    } finally {
      await backend.close();
    }
    await expect(backend.destroy()).rejects.toMatchObject({ code: ErrorCodes.PERMISSION_DENIED });
    const folder = join(root, "state", "_delete-grace", "alice", "laptop");
    const kept = readdirSync(folder).map((file) => [file.split("-")[2], readFileSync(join(folder, file), "utf8")]);
    expect(kept).toEqual([
      ["overwrite", "one"],
      ["delete", "two"],
    ]);
  });
});
