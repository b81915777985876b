import { existsSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { InvalidArgument } from "@borgstore/core";
import SSHConfig from "ssh-config";
import { readExistingFiles } from "./config-files.js";
import type { SftpLocation } from "./url.js";

/** How to reach and authenticate to the ssh server; every field defaults to what `ssh` would use. */
export interface SshOptions {
  /** ssh_config files, first value wins (default: ~/.ssh/config, then /etc/ssh/ssh_config). [] reads none. */
  sshConfigFiles?: readonly string[];
  /** known_hosts files (default: UserKnownHostsFile from ssh config, else ~/.ssh/known_hosts and ~/.ssh/known_hosts2, plus /etc/ssh/ssh_known_hosts). */
  knownHostsFiles?: readonly string[];
  /** Private key files to try (default: IdentityFile from ssh config, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa). */
  privateKeys?: readonly string[];
  /** Passphrase for encrypted private keys (keys that cannot be decrypted are skipped). */
  passphrase?: string;
  /** ssh agent socket (default: IdentityAgent from ssh config, else SSH_AUTH_SOCK); false disables the agent. */
  agent?: string | false;
}

/** Everything needed to open the ssh connection, resolved from URL, options and ssh config. */
export interface SshSettings {
  /** Host name or address to connect to (after ssh config's HostName). */
  host: string;
  /** TCP port. */
  port: number;
  /** Login user name. */
  username: string;
  /** The name looked up in known_hosts. */
  knownHostsName: string;
  /** known_hosts files the host key is checked against. */
  knownHostsFiles: string[];
  /** Private key files to try. */
  privateKeys: string[];
  /** Passphrase for encrypted private keys. */
  passphrase: string | undefined;
  /** ssh agent socket, if one is used. */
  agent: string | undefined;
  /** Only the configured keys, not every agent key (IdentitiesOnly yes). */
  identitiesOnly: boolean;
  /**
   * The program whose stdin/stdout carry the ssh connection instead of a TCP socket: ssh_config's
   * ProxyCommand (through /bin/sh, as ssh runs it) or ProxyJump (as ssh does it: `ssh -W`).
   */
  proxy?: readonly string[];
}

type HostConfig = Record<string, string | string[]>;

/**
 * Resolves host, port, user, keys, agent and known_hosts the way OpenSSH does: values in the URL
 * win, then ssh config (first match wins, user file before the system file), then defaults.
 */
export function resolveSshSettings(location: SftpLocation, options: SshOptions = {}): SshSettings {
  const home = homedir();
  const configFiles = options.sshConfigFiles ?? [join(home, ".ssh", "config"), "/etc/ssh/ssh_config"];
  const config = lookupHost(configFiles, location.hostname);
  const localUser = safeLocalUser();
  const first = (key: string): string | undefined => {
    const v = config[key];
    return Array.isArray(v) ? v[0] : v;
  };
  const all = (key: string): string[] => {
    const v = config[key];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };

  const host = first("hostname") ?? location.hostname;
  const port = location.port || Number(first("port") ?? 22) || 22;
  const username = location.username ?? first("user") ?? localUser;
  const expand = (p: string) => expandPath(p, { home, host, port, localUser, remoteUser: username });

  const configuredKnownHosts = all("userknownhostsfile").flatMap((v) => v.split(/\s+/)).filter((v) => v && v !== "none");
  const knownHostsFiles = options.knownHostsFiles
    ? [...options.knownHostsFiles]
    : [
        ...(configuredKnownHosts.length
          ? configuredKnownHosts.map(expand)
          : [join(home, ".ssh", "known_hosts"), join(home, ".ssh", "known_hosts2")]),
        "/etc/ssh/ssh_known_hosts",
      ];

  const configuredKeys = all("identityfile").map(expand);
  const defaultKeys = ["id_ed25519", "id_ecdsa", "id_rsa"].map((k) => join(home, ".ssh", k));
  const privateKeys = options.privateKeys
    ? [...options.privateKeys]
    : (configuredKeys.length ? configuredKeys : defaultKeys).filter((k) => existsSync(k));

  const identityAgent = first("identityagent");
  let agent: string | undefined;
  if (options.agent === false) agent = undefined;
  else if (typeof options.agent === "string") agent = options.agent;
  else if (identityAgent && identityAgent.toLowerCase() !== "none")
    agent = identityAgent === "SSH_AUTH_SOCK" ? process.env.SSH_AUTH_SOCK : expand(identityAgent);
  else if (identityAgent?.toLowerCase() !== "none") agent = process.env.SSH_AUTH_SOCK || undefined;

  const hostKeyAlias = first("hostkeyalias");
  const proxy = proxyFor(first("proxyjump"), first("proxycommand"), {
    host,
    port,
    username,
    alias: location.hostname,
    configFile: options.sshConfigFiles === undefined ? undefined : (options.sshConfigFiles[0] ?? "none"),
  });
  return {
    host,
    port,
    username,
    knownHostsName: knownHostsNameFor(hostKeyAlias ?? host, port),
    knownHostsFiles,
    privateKeys,
    passphrase: options.passphrase,
    agent,
    identitiesOnly: (first("identitiesonly") ?? "no").toLowerCase() === "yes",
    ...(proxy ? { proxy } : {}),
  };
}

interface ProxyTarget {
  host: string;
  port: number;
  username: string;
  /** The host as written in the URL (ssh's %n). */
  alias: string;
  /** The ssh_config file the jump `ssh` should read (`none`: none), if not ssh's default. */
  configFile: string | undefined;
}

/**
 * ProxyJump wins when both are set (ssh takes whichever comes first in the file; the parser does
 * not keep the order). A host name going into a shell command must not carry shell syntax: ssh
 * refuses such names for the same reason.
 */
function proxyFor(jump: string | undefined, command: string | undefined, t: ProxyTarget): string[] | undefined {
  const useJump = jump !== undefined && jump.toLowerCase() !== "none";
  const useCommand = !useJump && command !== undefined && command.toLowerCase() !== "none";
  if (!useJump && !useCommand) return undefined;
  // Nor may it start with "-": a proxy such as `nc %h %p` would take it for an option.
  if (!/^[A-Za-z0-9._:[\]-]+$/.test(t.host) || !/^[A-Za-z0-9._:-]+$/.test(t.alias) || t.host.startsWith("-") || t.alias.startsWith("-"))
    throw new InvalidArgument(`ssh host name ${JSON.stringify(t.host)} cannot be passed to a proxy command`);
  if (useCommand) {
    if ((command as string).includes("%r") && !/^[A-Za-z0-9._-]+$/.test(t.username))
      throw new InvalidArgument(`ssh user name ${JSON.stringify(t.username)} cannot be passed to a proxy command`);
    const expanded = (command as string).replace(/%([%hprn])/g, (_, k: string) =>
      k === "%" ? "%" : k === "h" ? t.host : k === "p" ? String(t.port) : k === "r" ? t.username : t.alias,
    );
    return ["/bin/sh", "-c", `exec ${expanded}`];
  }
  const hops = (jump as string).split(",").map((h) => h.trim());
  const last = jumpHost(hops.pop() as string);
  return [
    "ssh",
    ...(t.configFile ? ["-F", t.configFile] : []),
    ...(hops.length ? ["-J", hops.join(",")] : []),
    ...(last.user ? ["-l", last.user] : []),
    ...(last.port ? ["-p", last.port] : []),
    "-W",
    `[${t.host}]:${t.port}`,
    "--",
    last.host,
  ];
}

/** A ProxyJump hop: `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
function jumpHost(hop: string): { user?: string; host: string; port?: string } {
  const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hop);
  if (!m || (m[2] as string).startsWith("-")) throw new InvalidArgument(`ProxyJump host not understood: ${JSON.stringify(hop)}`);
  return { user: m[1], host: (m[2] as string).replace(/^\[(.*)\]$/, "$1"), port: m[3] };
}

function knownHostsNameFor(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The merged Host/Match settings for `host` from the config files (first value wins). */
function lookupHost(files: readonly string[], host: string): HostConfig {
  const merged: HostConfig = {};
  for (const { text } of readExistingFiles(files)) {
    // matchExec false: never run shell commands from a config file while resolving a URL.
    const computed = SSHConfig.parse(text).compute(host, { ignoreCase: true, matchExec: false }) as HostConfig;
    for (const [key, value] of Object.entries(computed)) {
      if (key === "identityfile" || key === "userknownhostsfile") {
        const prev = merged[key];
        merged[key] = [...(prev === undefined ? [] : Array.isArray(prev) ? prev : [prev]), ...([] as string[]).concat(value)];
      } else if (merged[key] === undefined) merged[key] = value;
    }
  }
  return merged;
}

interface Expansion {
  home: string;
  host: string;
  port: number;
  localUser: string;
  remoteUser: string;
}

/** ssh_config's `~` and %-tokens in file names (%d home, %h host, %p port, %u local user, %r remote user). */
export function expandPath(path: string, e: Expansion): string {
  const tilde = path === "~" ? e.home : path.startsWith("~/") ? join(e.home, path.slice(2)) : path;
  return tilde.replace(/%([%dhpur])/g, (_, t: string) =>
    t === "%" ? "%" : t === "d" ? e.home : t === "h" ? e.host : t === "p" ? String(e.port) : t === "u" ? e.localUser : e.remoteUser,
  );
}

function safeLocalUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? "root";
  }
}
