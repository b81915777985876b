import { readFileSync } from "node:fs";

/**
 * Bytes the kernel still holds for each TCP connection (written by us, not yet acknowledged by
 * the peer), by connectionKey: Linux's /proc/net/tcp and tcp6 `tx_queue`. Undefined where those
 * cannot be read (another OS). Node hands a whole answer to the kernel as soon as its socket
 * buffer takes it, several MB on a fast link: without this, a client that reads that answer at a
 * few bytes per second looks, to Node, like an idle keep-alive connection.
 */
export function kernelSendQueues(): Map<string, number> | undefined {
  const queues = new Map<string, number>();
  let readAny = false;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      // Synchronous: /proc is generated in memory, and this runs once per rate window.
      text = readFileSync(file, "latin1");
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, remote, txRx] = [fields[1], fields[2], fields[4]];
      if (!local || !remote || !txRx) continue;
      const tx = Number.parseInt(txRx.slice(0, txRx.indexOf(":")), 16);
      if (!(tx > 0)) continue;
      const [, localPort] = local.split(":");
      const [remoteHex, remotePort] = remote.split(":");
      if (!localPort || !remoteHex || !remotePort) continue;
      queues.set(`${Number.parseInt(localPort, 16)} ${procAddress(remoteHex)} ${Number.parseInt(remotePort, 16)}`, tx);
    }
  }
  return readAny ? queues : undefined;
}

/** The key of a connection in kernelSendQueues' map: its local port and its peer's address (IPv4-mapped as IPv4) and port. */
export function connectionKey(localPort: number, peerAddress: string, peerPort: number): string {
  return `${localPort} ${peerAddress.includes(":") ? expandIpv6(peerAddress) : peerAddress} ${peerPort}`;
}

/** /proc's hex address (32-bit words in host order: little-endian on x86 and arm) as clientAddress writes it. */
function procAddress(hex: string): string {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8)
    for (let i = 6; i >= 0; i -= 2) bytes.push(Number.parseInt(hex.slice(word + i, word + i + 2), 16));
  const v4 = bytes.length === 4 ? bytes : isV4Mapped(bytes) ? bytes.slice(12) : undefined;
  if (v4) return v4.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  return groups.join(":");
}

function isV4Mapped(bytes: number[]): boolean {
  return bytes.length === 16 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/** An IPv6 address as 8 groups of lowercase hex without leading zeros ("::" expanded). */
function expandIpv6(address: string): string {
  const [head = "", tail] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16).toString(16)).join(":");
}
