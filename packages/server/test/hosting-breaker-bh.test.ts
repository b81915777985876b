import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import bcrypt from "bcryptjs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PERMISSION_SHORTCUTS } from "@borgstore/core";
import { backendFromServerUrl } from "../src/backend-url.js";
import { HostingConfigError, parseHostingConfig } from "../src/hosting/config.js";
import { type HostingServer, openHostingServer } from "../src/hosting/hosting-server.js";
import { HtpasswdTable, PasswordChecker } from "../src/hosting/htpasswd.js";
import { PermissionView } from "../src/hosting/permission-view.js";
import { UserUsage } from "../src/hosting/usage.js";
import { UsageLayer } from "../src/hosting/usage-layer.js";
import { Logger } from "../src/logger.js";

// Defects found by attacking the hosting mode from outside (breaker BH), each pinned here.

const ACCEPT = "application/vnd.x.borgstore.rest.v1";
const BASE = `[listen]\nport = 0\n[repositories]\nbackend = "file:///srv/{user}/{repo}"\n`;

describe("hosting configuration", () => {
  it("refuses a grant to the repository's own user, which would be ignored (the owner kept every right)", () => {
    const text = `htpasswd = "htpasswd"\n${BASE}[repos."alice/archive"]\ngrants = { alice = "read-only", bob = "read-only" }\n`;
    expect(() => parseHostingConfig(text, "/etc/borgstore")).toThrow(/repos\."alice\/archive"\.grants\.alice: alice owns this repository/);
    expect(parseHostingConfig(text.replace("alice = \"read-only\", ", ""), "/etc/borgstore").repos["alice/archive"]?.grants).toEqual({ bob: "read-only" });
  });

  it("refuses a backend template that puts {user} and {repo} in one path segment (bob's x-y would be bob-x's y)", () => {
    for (const backend of ["file:///srv/{user}-{repo}", "file:///srv/{user}{repo}", "s3:http://host/bucket/{user}.{repo}"]) {
      const text = `htpasswd = "htpasswd"\n[listen]\nport = 0\n[repositories]\nbackend = "${backend}"\n`;
      expect(() => parseHostingConfig(text, "/etc/borgstore")).toThrow(/repositories\.backend: \{user\} and \{repo\} must be in different path segments/);
    }
    for (const backend of ["file:///srv/{user}/{repo}", "file:///srv/u-{user}/repos/{repo}.store", "s3:http://host/bucket/{user}/{repo}"]) {
      const text = `htpasswd = "htpasswd"\n[listen]\nport = 0\n[repositories]\nbackend = "${backend}"\n`;
      expect(parseHostingConfig(text, "/etc/borgstore").repositories.backend).toBe(backend);
    }
  });

  it("refuses an empty role: core reads {} as unrestricted, so a role meant as 'nothing' would be an owner", () => {
    const text = `htpasswd = "htpasswd"\n${BASE}[roles]\nnone = {}\n[repos."alice/shared"]\ngrants = { bob = "none" }\n`;
    expect(() => parseHostingConfig(text, "/etc/borgstore")).toThrow(HostingConfigError);
    expect(() => parseHostingConfig(text, "/etc/borgstore")).toThrow(/roles\.none: an empty role would allow everything/);
    // A role that may do nothing is still possible.
    const nothing = parseHostingConfig(text.replace("none = {}", 'none = { "" = "" }'), "/etc/borgstore");
    expect(nothing.roles.none).toEqual({ "": "" });
  });
});

describe("hosting answers", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(): Promise<{ port: number; dir: string; server: HostingServer }> {
    const dir = mkdtempSync(join(tmpdir(), "bh-hosting-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "htpasswd"), `alice:${bcrypt.hashSync("pw-alice", 4).replace(/^\$2b\$/, "$2y$")}\n`);
    writeFileSync(
      join(dir, "hosting.toml"),
      `htpasswd = "htpasswd"\n[listen]\nhost = "127.0.0.1"\nport = 0\n[repositories]\nbackend = "file://${dir}/repos/{user}/{repo}"\nauto_create = true\n`,
    );
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    const server = await openHostingServer(join(dir, "hosting.toml"), new Logger("error", quiet));
    const address = await server.listen();
    cleanups.push(() => server.shutdown(1000));
    return { port: address.port, dir, server };
  }

  function send(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          headers: { Accept: ACCEPT, Authorization: `Basic ${Buffer.from("alice:pw-alice").toString("base64")}`, "Content-Length": 0 },
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  it("never names the server's storage path in an error answer (as the single-store mode redacts it)", async () => {
    const { port, dir } = await start();
    const missing = await send(port, "GET", "/alice/nothing-yet/");
    expect(missing.status).toBe(410);
    expect(missing.body).not.toContain(dir);
    expect(missing.body).toContain("[STORAGE_BASE]");
  });
});

describe("append-only", () => {
  it("a move cannot replace a value stored at a new name while the move waited for that name's turn", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bh-append-"));
    try {
      const layer = new UsageLayer(await backendFromServerUrl(`file://${dir}/repo`), new UserUsage("alice").repo("repo"), () => ({}), async () => {});
      await layer.create();
      await layer.open();
      const view = new PermissionView(layer, PERMISSION_SHORTCUTS["borgbackup-no-delete"]);
      await view.store("locks/l", Buffer.from("EVIL"));
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      async function* upload() {
        yield Buffer.from("first-");
        await gate;
        yield Buffer.from("value");
      }
      // The upload holds data/x's turn, not visible yet; the move's permission check sees no data/x.
      const storing = view.storeStream("data/x", upload(), { size: 11 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const moving = view.move("locks/l", "data/x").then(
        () => "moved",
        (err: { code?: string }) => err.code,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      await storing;
      expect(await moving).toBe("PERMISSION_DENIED");
      expect(Buffer.from(await view.load("data/x")).toString()).toBe("first-value");
      expect(Buffer.from(await view.load("locks/l")).toString()).toBe("EVIL");
      expect(layer.usage.objects).toBe(2);
      await layer.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("htpasswd reload", () => {
  it("keeps unchanged logins verified (no bcrypt run per client after each reload), forgets changed and removed ones", async () => {
    const line = (login: string, password: string) => `${login}:${bcrypt.hashSync(password, 4).replace(/^\$2b\$/, "$2y$")}`;
    const alice = line("alice", "pw-alice");
    const checker = new PasswordChecker(HtpasswdTable.parse(`${alice}\n${line("bob", "pw-bob")}\n${line("carol", "pw-carol")}\n`));
    for (const login of ["alice", "bob", "carol"]) expect(await checker.check(login, `pw-${login}`)).toBe(true);
    const compare = vi.spyOn(bcrypt, "compare");
    try {
      // The same file read again; then one where bob's password changed and carol is gone.
      checker.replaceTable(HtpasswdTable.parse(`${alice}\n${line("bob", "pw-bob")}\n${line("carol", "pw-carol")}\n`));
      checker.replaceTable(HtpasswdTable.parse(`${alice}\n${line("bob", "new-bob")}\n`));
      expect(await checker.check("alice", "pw-alice")).toBe(true);
      expect(compare).toHaveBeenCalledTimes(0);
      expect(await checker.check("bob", "pw-bob")).toBe(false);
      expect(await checker.check("bob", "new-bob")).toBe(true);
      expect(await checker.check("carol", "pw-carol")).toBe(false);
    } finally {
      compare.mockRestore();
    }
  });
});
