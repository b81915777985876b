import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSftpUrl, resolveSshSettings, sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { ErrorCodes } from "@borgstore/core";
import { afterAll, describe, expect, it } from "vitest";
import { env, freshPath, localServer, serverUrl } from "./server.js";

const scratch = mkdtempSync(join(tmpdir(), "borgstore-sftp-ssh-config-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("what an ssh user already configured is honoured", () => {
  const config = join(scratch, "config");
  writeFileSync(
    config,
    [
      "Host backup",
      "  HostName backup.example.org",
      "  User borg",
      "  Port 2222",
      "  IdentityFile ~/.ssh/backup_key",
      "  IdentityFile /keys/%r@%h",
      "  UserKnownHostsFile /etc/borg/known_hosts",
      "Host *.example.org",
      "  User fallback",
      "Host *",
      "  IdentityAgent /run/agent.sock",
      "",
    ].join("\n"),
  );
  const settings = (url: string) => resolveSshSettings(parseSftpUrl(url) as never, { sshConfigFiles: [config] });

  it("HostName, User, Port, IdentityFile (with ~ and %-tokens), UserKnownHostsFile and IdentityAgent from an ssh config file", () => {
    const s = settings("sftp://backup/repo");
    expect(s).toMatchObject({ host: "backup.example.org", username: "borg", port: 2222, agent: "/run/agent.sock" });
    expect(s.knownHostsName).toBe("[backup.example.org]:2222");
    expect(s.knownHostsFiles).toEqual(["/etc/borg/known_hosts", "/etc/ssh/ssh_known_hosts"]);
    // Key files that do not exist on this machine are skipped.
    expect(s.privateKeys).toEqual([]);
  });

  it("user and port in the URL win over the config", () => {
    expect(settings("sftp://alice@backup:2200/repo")).toMatchObject({ username: "alice", port: 2200, host: "backup.example.org" });
  });

  it("first matching value wins across Host blocks; unknown hosts get port 22 and the local user", () => {
    expect(settings("sftp://other.example.org/repo")).toMatchObject({ username: "fallback", port: 22 });
    const plain = resolveSshSettings(parseSftpUrl("sftp://nowhere/repo") as never, { sshConfigFiles: [] });
    expect(plain.port).toBe(22);
    expect(plain.knownHostsName).toBe("nowhere");
  });

  it("SSH_AUTH_SOCK is the agent unless the config or the options say otherwise", () => {
    const saved = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = "/tmp/agent.sock";
    try {
      const loc = parseSftpUrl("sftp://h/p") as never;
      expect(resolveSshSettings(loc, { sshConfigFiles: [] }).agent).toBe("/tmp/agent.sock");
      expect(resolveSshSettings(loc, { sshConfigFiles: [], agent: false }).agent).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
    }
  });
});

describe.skipIf(!localServer)("connecting to the real sshd the way ssh would", () => {
  const agents: ChildProcess[] = [];
  afterAll(() => {
    for (const agent of agents) agent.kill();
  });

  it("a Host alias from an ssh_config file supplies host, port, user, key and known_hosts", async () => {
    const backend = sftpBackendFromUrl(`sftp://${env.hostAlias}/${env.dataDir}/${freshPath("alias")}`, {
      sshConfigFiles: [env.sshConfig],
      agent: false,
    });
    await backend?.create();
    await backend?.open();
    await backend?.store("k", new Uint8Array([7]));
    expect(Array.from((await backend?.load("k")) ?? [])).toEqual([7]);
    await backend?.close();
    await backend?.destroy();
  });

  it("the default ~/.ssh files are used: config, id_ed25519 and known_hosts", async () => {
    const home = join(scratch, "home");
    mkdirSync(join(home, ".ssh"), { recursive: true });
    copyFileSync(env.key, join(home, ".ssh", "id_ed25519"));
    copyFileSync(env.knownHosts, join(home, ".ssh", "known_hosts"));
    writeFileSync(join(home, ".ssh", "config"), `Host testserver\n  HostName 127.0.0.1\n  Port ${env.port}\n  User ${env.user}\n`);
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    try {
      // No file names given: the defaults below HOME are what make "testserver" reachable.
      const backend = sftpBackendFromUrl(`sftp://testserver/${env.dataDir}/${freshPath("home")}`, { agent: false });
      expect(backend?.sshSettings).toMatchObject({ host: "127.0.0.1", port: env.port, username: env.user });
      expect(backend?.sshSettings.privateKeys).toEqual([join(home, ".ssh", "id_ed25519")]);
      expect(backend?.sshSettings.knownHostsFiles).toContain(join(home, ".ssh", "known_hosts"));
      await backend?.create();
      await backend?.open();
      await backend?.store("k", new Uint8Array([1]));
      expect(Array.from((await backend?.load("k")) ?? [])).toEqual([1]);
      await backend?.close();
      await backend?.destroy();
    } finally {
      process.env.HOME = savedHome;
    }
  });

  it("authenticates with a key held by an ssh agent (SSH_AUTH_SOCK)", async () => {
    const socket = join(scratch, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
    agents.push(agent);
    for (let i = 0; i < 50 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    execFileSync("ssh-add", ["-q", env.key], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: "ignore" });
    const saved = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = socket;
    try {
      const backend = sftpBackendFromUrl(`${serverUrl}/${freshPath("agent")}`, {
        sshConfigFiles: [],
        knownHostsFiles: [env.knownHosts],
        privateKeys: [],
      });
      expect(backend?.sshSettings.agent).toBe(socket);
      await backend?.create();
      await backend?.destroy();
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
    }
  });

  it("without a usable key, authentication fails with PERMISSION_DENIED naming what was tried", async () => {
    const backend = sftpBackendFromUrl(`${serverUrl}/${freshPath("nokey")}`, {
      sshConfigFiles: [],
      knownHostsFiles: [env.knownHosts],
      privateKeys: [],
      agent: false,
    });
    const err = await backend?.create().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.PERMISSION_DENIED });
    expect((err as Error).message).toMatch(/authentication as borgstore-test@127\.0\.0\.1/);
  });
});
