import { readFileSync } from "node:fs";
import { Socket } from "node:net";
import { BackendConnectionError, BackendError, PermissionDenied } from "@borgstore/core";
import ssh2, { type AnyAuthMethod, type AuthHandlerMiddleware, type SFTPWrapper, type Stats } from "ssh2";
import { receiveReadsInPlace } from "./data-in-place.js";
import { type HostKeyVerificationFailed, KnownHosts, algorithmsForKeyType } from "./known-hosts.js";
import { proxySocket } from "./proxy-command.js";
import { isConnectionLost, messageOf } from "./errors.js";

// ssh2 is CommonJS: named imports of its values do not resolve under Node's ESM loader.
const { Client, utils } = ssh2;
type Client = InstanceType<typeof Client>;
import type { SshSettings } from "./ssh-settings.js";

/** How long connecting may take and how a dead connection is noticed. */
export interface ConnectionTimeouts {
  /** Connect + ssh handshake + authentication (ms); starting the SFTP subsystem then gets as long again. */
  connectTimeout: number;
  /** Keepalive interval (ms); the connection is dropped after 3 unanswered ones. */
  keepaliveInterval: number;
  /**
   * A request waiting while nothing at all arrives on its SFTP channel for this long drops the
   * connection (ms). Measured from the channel's last incoming byte, not from the request: a request
   * queued behind its transfer's other requests on a slow but working link does not time out.
   */
  operationTimeout: number;
}

/** A directory entry as the server reports it. */
export interface RemoteEntry {
  filename: string;
  attrs: Stats;
}

/** Host key types we may negotiate when known_hosts knows none for the host (ssh2's defaults, strongest first). */
const DEFAULT_HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/** The SFTP requests this package makes, as promises (one channel, or a connection's first channel). */
export interface SftpRequests {
  readonly lost: boolean;
  /** Largest payload of one READ/WRITE request the server accepts (OpenSSH: ~256 KiB via limits@openssh.com). */
  readonly maxChunk: number;
  /** SFTP extensions the server announced (name → version). */
  readonly extensions: Readonly<Record<string, string>>;
  open(path: string, flags: "r" | "r+" | "w" | "wx", mode?: number): Promise<Buffer>;
  closeHandle(handle: Buffer): Promise<void>;
  /** Reads up to `length` bytes at `position` into `buffer[offset…]`; 0 at end of file. */
  read(handle: Buffer, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  write(handle: Buffer, buffer: Buffer, offset: number, length: number, position: number): Promise<void>;
  fstat(handle: Buffer): Promise<Stats>;
  stat(path: string): Promise<Stats>;
  realpath(path: string): Promise<string>;
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Overwriting rename (posix-rename@openssh.com); plain SFTP rename refuses an existing target. */
  rename(from: string, to: string): Promise<void>;
  readdir(path: string): Promise<RemoteEntry[]>;
  /** The connection's other SFTP channels (for one transfer over several channels). */
  siblings(): SftpRequests[];
  /** The quickest answer to any request so far, ms: an estimate of the round-trip time (Infinity before any). */
  readonly roundTrip: number;
}

/** What a channel needs of its connection. */
interface ChannelOwner {
  /** Why the connection is gone, or undefined while it is up. */
  readonly lostError: Error | undefined;
  /** Drops the connection for `err` (a request timed out). */
  drop(err: Error): void;
  /** Every open channel of the connection. */
  channels(): readonly SftpChannel[];
  /** The quickest answer so far, ms. */
  roundTrip: number;
}

/**
 * One SFTP channel (one sftp-server process on the server) of a connection. The server answers
 * one channel's requests in order, and handles belong to the channel that opened them: everything
 * one operation does stays on one channel.
 */
export class SftpChannel implements SftpRequests {
  readonly #sftp: SFTPWrapper;
  readonly #owner: ChannelOwner;
  readonly #operationTimeout: number;
  /** Requests sent and not yet answered (to pick the least busy channel). */
  pending = 0;
  /** When the server last sent anything on this channel (performance.now()). */
  #lastHeard = performance.now();
  /** How to fail each request waiting for an answer. */
  readonly #waiting = new Set<(err: Error) => void>();

  constructor(sftp: SFTPWrapper, owner: ChannelOwner, operationTimeout: number) {
    this.#sftp = sftp;
    this.#owner = owner;
    this.#operationTimeout = operationTimeout;
    noticeIncoming(sftp, () => {
      this.#lastHeard = performance.now();
    });
  }

  get lost(): boolean {
    return this.#owner.lostError !== undefined;
  }

  get maxChunk(): number {
    const s = this.#sftp as unknown as { _maxReadLen?: number; _maxWriteLen?: number };
    return Math.max(32 * 1024, Math.min(s._maxReadLen ?? 32 * 1024, s._maxWriteLen ?? 32 * 1024));
  }

  get extensions(): Readonly<Record<string, string>> {
    return (this.#sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
  }

  siblings(): SftpRequests[] {
    return this.#owner.channels().filter((c) => c !== this);
  }

  get roundTrip(): number {
    return this.#owner.roundTrip;
  }

  /** A realpath whose answer only proves the channel is alive (keepalive); no timeout of its own. */
  ping(answered: () => void): void {
    this.#sftp.realpath(".", () => answered());
  }

  /** Ends the channel; never throws. */
  end(): void {
    try {
      this.#sftp.end();
    } catch {}
  }

  /** Fails every request still waiting for an answer (the connection is gone). */
  failPending(err: Error): void {
    for (const fail of [...this.#waiting]) fail(err);
  }

  #request<T>(what: string, start: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
    const lost = this.#owner.lostError;
    if (lost) return Promise.reject(lost);
    return new Promise<T>((resolve, reject) => {
      this.pending++;
      const sent = performance.now();
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        this.pending--;
        this.#waiting.delete(failNow);
        return true;
      };
      // ssh2 may still send a request's follow-ups (readdir's READDIRs after OPENDIR) on a dead channel, where they wait forever.
      const failNow = (err: Error) => settle() && reject(err);
      this.#waiting.add(failNow);
      // The server is making progress while anything arrives on the channel (answers to earlier
      // requests, or parts of a long answer such as a READDIR series): only silence counts.
      const expireUnlessHeard = () => {
        const silentFor = performance.now() - Math.max(sent, this.#lastHeard);
        if (silentFor < this.#operationTimeout) {
          timer = setTimeout(expireUnlessHeard, this.#operationTimeout - silentFor);
          return;
        }
        const err = new BackendConnectionError(`sftp ${what}: nothing heard from the server for ${this.#operationTimeout} ms`);
        if (settle()) reject(err);
        this.#owner.drop(err);
      };
      timer = setTimeout(expireUnlessHeard, this.#operationTimeout);
      try {
        start((err, value) => {
          if (!settle()) return;
          const took = performance.now() - sent;
          if (took < this.#owner.roundTrip) this.#owner.roundTrip = took;
          const lostNow = this.#owner.lostError;
          if (err) reject(lostNow && !(typeof (err as { code?: unknown }).code === "number") ? lostNow : err);
          else resolve(value as T);
        });
      } catch (err) {
        if (settle()) reject(this.#owner.lostError ?? err);
      }
    });
  }

  open(path: string, flags: "r" | "r+" | "w" | "wx", mode?: number): Promise<Buffer> {
    return this.#request("open", (cb) =>
      mode === undefined ? this.#sftp.open(path, flags, cb) : this.#sftp.open(path, flags, { mode }, cb),
    );
  }

  closeHandle(handle: Buffer): Promise<void> {
    return this.#request("close", (cb) => this.#sftp.close(handle, cb));
  }

  read(handle: Buffer, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.#request<number>("read", (cb) =>
      this.#sftp.read(handle, buffer, offset, length, position, (err, bytesRead) => cb(err, bytesRead)),
    );
  }

  write(handle: Buffer, buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
    return this.#request("write", (cb) => this.#sftp.write(handle, buffer, offset, length, position, (err) => cb(err)));
  }

  fstat(handle: Buffer): Promise<Stats> {
    return this.#request("fstat", (cb) => this.#sftp.fstat(handle, cb));
  }

  stat(path: string): Promise<Stats> {
    return this.#request("stat", (cb) => this.#sftp.stat(path, cb));
  }

  realpath(path: string): Promise<string> {
    return this.#request("realpath", (cb) => this.#sftp.realpath(path, cb));
  }

  mkdir(path: string): Promise<void> {
    return this.#request("mkdir", (cb) => this.#sftp.mkdir(path, cb));
  }

  rmdir(path: string): Promise<void> {
    return this.#request("rmdir", (cb) => this.#sftp.rmdir(path, cb));
  }

  unlink(path: string): Promise<void> {
    return this.#request("unlink", (cb) => this.#sftp.unlink(path, cb));
  }

  rename(from: string, to: string): Promise<void> {
    if (this.extensions["posix-rename@openssh.com"] === undefined)
      return Promise.reject(new BackendError("the sftp server lacks posix-rename@openssh.com, needed for atomic overwrite"));
    return this.#request("rename", (cb) => this.#sftp.ext_openssh_rename(from, to, cb));
  }

  readdir(path: string): Promise<RemoteEntry[]> {
    return this.#request("readdir", (cb) => this.#sftp.readdir(path, cb));
  }
}

/**
 * One ssh connection with up to `channels` SFTP channels. Every request has a timeout; when the
 * connection dies, pending and later requests fail with errors isConnectionLost recognises.
 * `channel()` hands out the least busy channel for one operation; `primary` is the first channel.
 */
export class SftpConnection {
  readonly #client: Client;
  readonly #channels: SftpChannel[] = [];
  readonly #primary: SftpChannel;
  readonly #owner: ChannelOwner;
  readonly #operationTimeout: number;
  #lost: Error | undefined;
  readonly #keepalive: NodeJS.Timeout | undefined;
  #next = 0;
  /** The host key the server showed (checked against known_hosts at connect). */
  hostKey: Buffer | undefined;

  private constructor(client: Client, sftp: SFTPWrapper, operationTimeout: number, keepaliveInterval: number, channels: number) {
    this.#client = client;
    this.channelsWanted = channels;
    this.#operationTimeout = operationTimeout;
    const self = this;
    this.#owner = {
      get lostError() {
        return self.#lost;
      },
      drop(err: Error) {
        self.#loseWith(err);
        self.#client.destroy();
      },
      channels: () => self.#channels,
      roundTrip: Number.POSITIVE_INFINITY,
    };
    const lose = (why: string) => (err?: Error) => {
      this.#loseWith(new BackendConnectionError(`sftp connection lost: ${err ? messageOf(err) : why}`, { cause: err }));
    };
    client.on("error", lose("error"));
    client.on("close", lose("closed"));
    client.on("end", lose("ended"));
    this.#primary = this.#addChannel(sftp);
    this.#keepalive = this.#startKeepalive(keepaliveInterval);
  }

  #addChannel(sftp: SFTPWrapper): SftpChannel {
    const lose = (why: string) => (err?: Error) => {
      this.#loseWith(new BackendConnectionError(`sftp connection lost: ${err ? messageOf(err) : why}`, { cause: err }));
    };
    sftp.on("close", lose("sftp channel closed"));
    sftp.on("error", lose("sftp channel error"));
    widenReceiveWindow(this.#client, sftp);
    receiveReadsInPlace(sftp);
    const channel = new SftpChannel(sftp, this.#owner, this.#operationTimeout);
    this.#channels.push(channel);
    return channel;
  }

  /**
   * Opens `count` more SFTP channels in the background; each joins `channel()`'s choice when
   * ready. A server that refuses more sessions (MaxSessions) just leaves fewer.
   */
  #openMoreChannels(count: number): void {
    for (let i = 0; i < count; i++)
      try {
        this.#client.sftp((err, sftp) => {
          if (err) return;
          if (this.#lost) {
            try {
              sftp.end();
            } catch {}
            return;
          }
          this.#addChannel(sftp);
        });
      } catch {
        // ssh2 throws "Not connected" when the connection is already gone: nothing more to open.
        return;
      }
  }

  /** Marks the connection lost (the first reason stays) and fails what its channels still wait for. */
  #loseWith(err: Error): void {
    this.#lost ??= err;
    for (const channel of this.#channels) channel.failPending(this.#lost);
  }

  /** How many SFTP channels this connection was asked to open. */
  readonly channelsWanted: number;

  /** How many SFTP channels are open. */
  get channelCount(): number {
    return this.#channels.length;
  }

  /** The channel with the fewest unanswered requests (ties taken in turn), for one operation. */
  channel(): SftpChannel {
    const channels = this.#channels;
    const n = channels.length;
    if (n === 1) return this.#primary;
    let best = channels[this.#next % n] as SftpChannel;
    for (let i = 1; i < n && best.pending > 0; i++) {
      const c = channels[(this.#next + i) % n] as SftpChannel;
      if (c.pending < best.pending) best = c;
    }
    this.#next++;
    return best;
  }

  /**
   * SFTP-level keepalive instead of ssh2's, whose timer cannot be unref'd: an idle pooled
   * connection must not keep the process alive. Three intervals without an answer drop it.
   */
  #startKeepalive(interval: number): NodeJS.Timeout | undefined {
    if (!(interval > 0)) return undefined;
    let outstanding = 0;
    const timer = setInterval(() => {
      if (this.#lost) return clearInterval(timer);
      if (outstanding >= 3) {
        this.#loseWith(new BackendConnectionError(`sftp connection lost: no keepalive answer for ${3 * interval} ms`));
        this.#client.destroy();
        return clearInterval(timer);
      }
      outstanding++;
      this.#primary.ping(() => {
        outstanding = 0;
      });
    }, interval);
    return timer;
  }

  /** Whether this connection may keep the process alive (false while it idles in the pool). */
  setKeepsProcessAlive(alive: boolean): void {
    const sock = (this.#client as unknown as { _sock?: { ref?(): void; unref?(): void } })._sock;
    if (alive) {
      sock?.ref?.();
      this.#keepalive?.ref();
    } else {
      sock?.unref?.();
      this.#keepalive?.unref();
    }
  }

  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** `channels`: SFTP channels to open (at least 1; the first is ready on return, the others follow). */
  static async connect(settings: SshSettings, timeouts: ConnectionTimeouts, channels = 1): Promise<SftpConnection> {
    const knownHosts = KnownHosts.load(settings.knownHostsFiles);
    const knownTypes = knownHosts.keyTypesFor(settings.knownHostsName);
    // Negotiate a host key type known_hosts has, as OpenSSH does, so a known host is not refused
    // just because the server prefers another key type.
    const hostKeyAlgorithms = knownTypes.length
      ? [...new Set(knownTypes.flatMap(algorithmsForKeyType))].filter((a) => DEFAULT_HOST_KEY_ALGORITHMS.includes(a))
      : DEFAULT_HOST_KEY_ALGORITHMS;
    const client = new Client();
    let refusal: HostKeyVerificationFailed | undefined;
    let hostKey: Buffer | undefined;
    return new Promise<SftpConnection>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        // ssh2 may report more as it winds down (e.g. "Connection lost before handshake" after a
        // timeout): with no listener left, an 'error' event would crash the process.
        client.on("error", () => {});
        client.end();
        client.destroy();
        reject(err);
      };
      // Through a proxy, the proxy's own exit status says more than ssh2's "connection lost": it is
      // awaited briefly (ssh2 may report more meanwhile, which is then ignored).
      const lost = (message: string, cause?: Error) => {
        client.on("error", () => {});
        const report = (proxyFailure: string | undefined) =>
          fail(
            refusal ??
              new BackendConnectionError(proxyFailure ? `cannot connect to ${settings.host}:${settings.port} over ssh: ${proxyFailure}` : message, {
                cause,
              }),
          );
        if (proxied) void proxied.failure(1000).then(report);
        else report(undefined);
      };
      client.on("error", (err: Error & { level?: string }) => {
        // An agent that cannot be reached (a stale SSH_AUTH_SOCK): ssh2 goes on to the key files, as ssh does.
        if (settled || err.level === "agent") return;
        if (refusal) return fail(refusal);
        if (err.level === "client-authentication")
          return fail(
            new PermissionDenied(
              `ssh authentication as ${settings.username}@${settings.host}:${settings.port} failed (tried: ${describeAuth(settings)})`,
              { cause: err },
            ),
          );
        lost(`cannot connect to ${settings.host}:${settings.port} over ssh: ${err.message}`, err);
      });
      client.once("close", () => lost(`ssh connection to ${settings.host}:${settings.port} closed during setup`));
      client.once("ready", () => {
        // ssh2's readyTimeout ends at login: a server whose sftp subsystem never answers would hold us forever.
        const subsystemTimer = setTimeout(
          () => lost(`ssh server ${settings.host}:${settings.port} did not start the sftp subsystem within ${timeouts.connectTimeout} ms`),
          timeouts.connectTimeout,
        );
        const refused = (err: Error) =>
          fail(new BackendError(`ssh server ${settings.host} refused the sftp subsystem: ${err.message}`, { cause: err }));
        try {
          client.sftp((err, sftp) => {
            clearTimeout(subsystemTimer);
            if (settled) {
              try {
                sftp?.end();
              } catch {}
              return;
            }
            if (err) return isConnectionLost(err) ? lost(`ssh connection to ${settings.host}:${settings.port} lost during setup: ${err.message}`, err) : refused(err);
            settled = true;
            const conn = new SftpConnection(client, sftp, timeouts.operationTimeout, timeouts.keepaliveInterval, channels);
            conn.hostKey = hostKey;
            conn.#openMoreChannels(channels - 1);
            resolve(conn);
          });
        } catch (err) {
          clearTimeout(subsystemTimer);
          lost(`ssh connection to ${settings.host}:${settings.port} lost during setup: ${messageOf(err)}`, err as Error);
        }
      });
      const proxied = settings.proxy ? proxySocket(settings.proxy, settings) : undefined;
      const sock = proxied ?? socketWithLargeReads();
      if (!proxied) (sock as Socket).connect({ host: settings.host, port: settings.port });
      client.connect({
        sock,
        host: settings.host,
        port: settings.port,
        username: settings.username,
        readyTimeout: timeouts.connectTimeout,
        algorithms: { serverHostKey: hostKeyAlgorithms as never },
        hostVerifier: (key: Buffer) => {
          hostKey = key;
          try {
            knownHosts.verify(settings.knownHostsName, key);
            return true;
          } catch (e) {
            refusal = e as HostKeyVerificationFailed;
            return false;
          }
        },
        authHandler: authMethods(settings),
      });
      if (!proxied) {
        // Many small requests in flight: Nagle's algorithm would hold each one back ~40 ms.
        (sock as Socket).setNoDelay(true);
        batchSocketWrites(sock as Socket);
      }
    });
  }

  /** Ends the connection; never throws. */
  close(): void {
    this.#loseWith(new BackendConnectionError("sftp connection closed"));
    clearInterval(this.#keepalive);
    for (const channel of this.#channels) channel.end();
    this.#client.end();
    // Make sure nothing keeps the process alive if the server does not answer the close.
    setTimeout(() => this.#client.destroy(), 1000).unref();
  }

  /** Drops the connection at once (after a timeout or when it is known to be dead). */
  destroy(): void {
    this.#loseWith(new BackendConnectionError("sftp connection dropped"));
    clearInterval(this.#keepalive);
    this.#client.destroy();
  }

  /** The first channel: for requests outside an operation (opening the store, cleaning up). */
  get primary(): SftpChannel {
    return this.#primary;
  }
}

/**
 * Calls `heard` whenever data arrives on the channel, before ssh2 (or receiveReadsInPlace) parses
 * it. Uses ssh2 internals (the channel hands its data to `push`); skipped if they are absent.
 */
function noticeIncoming(sftp: SFTPWrapper, heard: () => void): void {
  const s = sftp as unknown as { push?: (data: Buffer | null) => unknown };
  const push = s.push;
  if (typeof push !== "function") return;
  s.push = (data: Buffer | null) => {
    heard();
    return push.call(s, data);
  };
}

/** Extra bytes the server may send ahead on the SFTP channel, above ssh2's own 1–2 MiB window. */
const EXTRA_RECEIVE_WINDOW = 2 * 1024 * 1024;

/**
 * ssh2 keeps the receive window between 1 and 2 MiB, which caps downloads at ~1.5 MiB per round
 * trip (≈ 50 MB/s at 10 ms RTT, less than OpenSSH's sftp). One extra WINDOW_ADJUST gives the
 * server a standing credit on top: ssh2's own accounting is unchanged and keeps topping up its
 * part, so the real window stays this much above ssh2's view. Measured against OpenSSH 9.2: +2 MiB
 * triples 64 MiB downloads at 10 ms RTT; much more (+14 MiB) makes sshd slow down badly when many
 * reads are outstanding (16 parallel 4 MiB loads fell from ~250 to ~30 MB/s on loopback).
 * Uses ssh2 internals; skipped if they are absent.
 */
function widenReceiveWindow(client: Client, sftp: SFTPWrapper): void {
  const protocol = (client as unknown as { _protocol?: { channelWindowAdjust?(id: number, amount: number): void } })._protocol;
  const remoteId = (sftp as unknown as { outgoing?: { id?: number } }).outgoing?.id;
  if (typeof protocol?.channelWindowAdjust === "function" && typeof remoteId === "number")
    protocol.channelWindowAdjust(remoteId, EXTRA_RECEIVE_WINDOW);
}

/**
 * ssh2 hands the socket every piece of every packet separately (length, ciphertext, MAC: three
 * writes per SSH packet, each a syscall, and with Nagle off each its own TCP segment). Corking
 * the socket at the first write of a tick and uncorking on the next tick turns everything the
 * event loop produced meanwhile (a burst of pipelined requests, all packets of a WRITE) into one
 * writev: fewer syscalls and segments here and fewer wakeups and reads on the server.
 */
function batchSocketWrites(sock: Socket): void {
  const write = sock.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    sock.uncork();
  };
  sock.write = function (this: Socket, ...args: Parameters<Socket["write"]>) {
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Socket["write"];
}

/** Bytes one socket read may take (Node's own reads stop at 64 KiB). */
const READ_SLAB = 1024 * 1024;
const MIN_READ = 64 * 1024;

/**
 * A TCP socket that reads up to 1 MiB at a time into slabs it never reuses, handed to ssh2 as
 * 'data' events like a plain socket's. Node reads at most 64 KiB per call: a 32 KiB SSH packet
 * then often straddles two reads, which costs ssh2 an extra decrypt call and a copy to glue it,
 * and every read is an event-loop round of its own. Reading what the kernel has, in larger
 * pieces, lets a download's packets arrive whole and in fewer callbacks.
 */
function socketWithLargeReads(): Socket {
  let slab = Buffer.allocUnsafeSlow(READ_SLAB);
  let used = 0;
  const next = () => {
    if (READ_SLAB - used < MIN_READ) {
      slab = Buffer.allocUnsafeSlow(READ_SLAB);
      used = 0;
    }
    return slab.subarray(used);
  };
  const sock: Socket = new Socket({
    onread: {
      buffer: next,
      callback: (bytes: number, buffer: Uint8Array) => {
        used += bytes;
        sock.emit("data", Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
        return true;
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  return sock;
}

/** Agent first (not with IdentitiesOnly), then each usable key file, as ssh tries them. */
function authMethods(settings: SshSettings): AuthHandlerMiddleware {
  const queue: AnyAuthMethod[] = [];
  if (settings.agent && !settings.identitiesOnly) queue.push({ type: "agent", username: settings.username, agent: settings.agent });
  for (const file of settings.privateKeys) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue;
    }
    const parsed = utils.parseKey(data, settings.passphrase);
    if (parsed instanceof Error) continue; // encrypted without passphrase, or not a key
    queue.push({ type: "publickey", username: settings.username, key: data, passphrase: settings.passphrase } as AnyAuthMethod);
  }
  // ssh2 stops authenticating when handed `false` (its types do not say so).
  return (_left, _partial, next) => next(queue.shift() ?? (false as never));
}

function describeAuth(settings: SshSettings): string {
  const parts = [...(settings.agent ? [`agent ${settings.agent}`] : []), ...settings.privateKeys];
  return parts.length ? parts.join(", ") : "no agent and no private key found";
}
