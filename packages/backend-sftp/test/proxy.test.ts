import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSftpUrl, resolveSshSettings, sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { afterAll, describe, expect, it } from "vitest";
import { env, freshPath, localServer } from "./server.js";

const scratch = mkdtempSync(join(tmpdir(), "borgstore-sftp-proxy-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A real ProxyCommand: pipes its stdin/stdout to host:port over TCP and notes that it ran. */
const PIPE = join(scratch, "tcp-pipe.mjs");
writeFileSync(
  PIPE,
  `import { connect } from "node:net";
import { appendFileSync } from "node:fs";
const [host, port, marker] = process.argv.slice(2);
appendFileSync(marker, host + ":" + port + "\\n");
const s = connect({ host, port: Number(port) });
process.stdin.pipe(s);
s.pipe(process.stdout);
s.on("close", () => process.exit(0));
`,
);

function configWith(lines: string[]): string {
  const file = join(scratch, `config-${freshPath("c")}`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}
const direct = (host: string) => [
  `Host ${host}`,
  "  HostName 127.0.0.1",
  `  Port ${env.port}`,
  `  User ${env.user}`,
  `  IdentityFile ${env.key}`,
  "  IdentitiesOnly yes",
  `  UserKnownHostsFile ${env.knownHosts}`,
  "  StrictHostKeyChecking yes",
  "  BatchMode yes",
];

async function roundTrip(url: string, sshConfigFiles: string[]): Promise<string> {
  const backend = sftpBackendFromUrl(url, { sshConfigFiles, agent: false, reconnectDelay: 50 });
  if (!backend) throw new Error("not an sftp URL");
  await backend.create();
  await backend.open();
  try {
    await backend.store("config/main", new TextEncoder().encode("through the proxy"));
    return new TextDecoder().decode(await backend.load("config/main"));
  } finally {
    await backend.close();
    await backend.destroy();
  }
}

describe("ProxyCommand and ProxyJump from ssh_config, as ssh honours them", () => {
  it("ProxyCommand's program carries the connection (%h and %p expanded)", async () => {
    const marker = join(scratch, "proxy-ran");
    const config = configWith([...direct("viaproxy"), `  ProxyCommand ${process.execPath} ${PIPE} %h %p ${marker}`]);
    expect(await roundTrip(`sftp://viaproxy/${env.dataDir}/${freshPath()}`, [config])).toBe("through the proxy");
    expect(readFileSync(marker, "utf8")).toContain(`127.0.0.1:${env.port}`);
  });

  it("ProxyJump goes through OpenSSH's own `ssh -W` via the jump host, reading the same config file", async () => {
    // Observe the real ssh: a wrapper first on PATH notes its arguments and runs /usr/bin/ssh.
    const bin = mkdtempSync(join(scratch, "bin-"));
    const log = join(bin, "argv");
    writeFileSync(join(bin, "ssh"), `#!/bin/sh\necho "$@" >> "${log}"\nexec /usr/bin/ssh "$@"\n`);
    chmodSync(join(bin, "ssh"), 0o755);
    const config = configWith([...direct("jumphost"), ...direct("behindjump"), "  ProxyJump jumphost"]);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      expect(await roundTrip(`sftp://behindjump/${env.dataDir}/${freshPath()}`, [config])).toBe("through the proxy");
    } finally {
      process.env.PATH = path;
    }
    expect(readFileSync(log, "utf8").trim()).toBe(`-F ${config} -W [127.0.0.1]:${env.port} -- jumphost`);
  });

  it("an idle pooled connection through a proxy does not keep the process alive (as a TCP socket's would not)", async () => {
    const marker = join(scratch, "proxy-ran-idle");
    const config = configWith([...direct("viaproxyidle"), `  ProxyCommand ${process.execPath} ${PIPE} %h %p ${marker}`]);
    const script = join(scratch, "idle.mjs");
    const url = `sftp://viaproxyidle/${env.dataDir}/${freshPath()}`;
    writeFileSync(
      script,
      `import { sftpBackendFromUrl } from ${JSON.stringify(join(import.meta.dirname, "..", "dist", "index.js"))};
const b = sftpBackendFromUrl(${JSON.stringify(url)}, { sshConfigFiles: [${JSON.stringify(config)}], agent: false, idleConnectionTimeout: 30000 });
await b.create();
await b.open();
await b.close();
`,
    );
    const started = Date.now();
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.execPath, [script], { cwd: import.meta.dirname, encoding: "utf8", timeout: 25_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const cleanup = sftpBackendFromUrl(url, { sshConfigFiles: [config], agent: false });
    await cleanup?.destroy();
  });

  it("a proxy that fails is a connection error carrying its exit status and stderr", async () => {
    const config = configWith([...direct("brokenproxy"), "  ProxyCommand sh -c 'echo no route to %h >&2; exit 7'"]);
    const backend = sftpBackendFromUrl(`sftp://brokenproxy/${env.dataDir}/x`, { sshConfigFiles: [config], agent: false, reconnectDelay: 10 });
    const err = await backend?.create().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "BACKEND_CONNECTION_ERROR" });
    expect(String((err as Error).message)).toMatch(/exited with code 7: no route to 127\.0\.0\.1/);
  });

  it("ProxyJump forms become ssh's arguments; host names with shell syntax never reach a proxy command", () => {
    const config = configWith([
      "Host a",
      "  ProxyJump hop1,admin@hop2:2200",
      "Host b",
      "  ProxyJump none",
      "  ProxyCommand none",
      "Host *",
      "  ProxyCommand nc %h %p",
    ]);
    const settings = (url: string) => resolveSshSettings(parseSftpUrl(url) as never, { sshConfigFiles: [config] });
    expect(settings("sftp://a/x").proxy).toEqual(["ssh", "-F", config, "-J", "hop1", "-l", "admin", "-p", "2200", "-W", "[a]:22", "--", "hop2"]);
    expect(settings("sftp://b/x").proxy).toBeUndefined();
    expect(settings("sftp://c:2022/x").proxy).toEqual(["/bin/sh", "-c", "exec nc c 2022"]);
    expect(() => settings("sftp://c$(touch%20pwned)/x")).toThrow();
    expect(() => settings("sftp://-oProxyCommand=x/x")).toThrow();
    expect(existsSync("pwned")).toBe(false);
  });
}, 60_000);

if (!localServer) describe.skip("ProxyCommand/ProxyJump need the local sshd of scripts/test-servers/sshd.sh", () => {});
