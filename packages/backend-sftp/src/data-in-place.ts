import type { SFTPWrapper } from "ssh2";

/** SSH_FXP_DATA (draft-ietf-secsh-filexfer-02 §7). */
const FXP_DATA = 103;
/** uint32 length, byte type, uint32 request id, uint32 data length. */
const DATA_HEADER = 13;

interface ReadRequest {
  /** Where ssh2 wants the answer of a READ into a caller's buffer (exactly the bytes asked for). */
  buffer?: Buffer;
  cb?: (err: Error | undefined, buffer: Buffer, bytesRead: number) => void;
}

interface SftpInternals {
  push(data: Buffer | null): unknown;
  _requests?: Record<number, ReadRequest>;
}

/**
 * Makes the answers to READs land in the caller's buffer as they arrive. ssh2 gathers every SFTP
 * packet in a buffer of its own (a 255 KiB answer spans 8 SSH packets) and then copies the data
 * out into the caller's buffer: for a big load that is one copy of every byte and a fresh 255 KiB
 * allocation per answer more than needed. This framing layer in front of ssh2's parser copies the
 * data of a DATA answer to a pending buffered READ straight from the channel into its destination
 * and completes the request as ssh2 would; every other packet (and a DATA answer it cannot place)
 * is handed to ssh2's parser unchanged, byte for byte, so its checks and handlers still apply.
 * Install it when the channel is ready (between packets). Uses ssh2 internals; skipped if absent.
 */
export function receiveReadsInPlace(sftp: SFTPWrapper): void {
  const s = sftp as unknown as SftpInternals;
  if (typeof s.push !== "function" || typeof s._requests !== "object" || s._requests === null) return;
  const parse = s.push.bind(s);
  // Looked up at each use: ssh2 replaces the table when it fails all requests at once.
  const requests = (): Record<number, ReadRequest> => s._requests ?? {};

  const header = Buffer.alloc(DATA_HEADER);
  let headerLen = 0;
  /** Bytes of the current packet (after its length field) still to come, once the header is known. */
  let left = 0;
  /** The current packet is ssh2's: pass the rest of it on. */
  let passing = false;
  /** The current packet is a DATA answer landing in `into` at `at`. */
  let into: Buffer | undefined;
  let at = 0;
  let request: ReadRequest | undefined;
  let requestId = 0;

  s.push = (data: Buffer | null): unknown => {
    if (data === null) {
      // The channel ended: ssh2 fails every request still listed, a half-received one included.
      passing = false;
      into = undefined;
      request = undefined;
      headerLen = 0;
      return parse(null);
    }
    let p = 0;
    let result: unknown;
    while (p < data.length) {
      if (passing) {
        const n = Math.min(left, data.length - p);
        result = parse(p === 0 && n === data.length ? data : data.subarray(p, p + n));
        p += n;
        left -= n;
        if (left === 0) passing = false;
        continue;
      }
      if (into) {
        const n = Math.min(left, data.length - p);
        const room = Math.max(0, into.length - at);
        if (room > 0) data.copy(into, at, p, p + Math.min(n, room));
        at += n;
        p += n;
        left -= n;
        if (left === 0) {
          const target = into;
          const done = request as ReadRequest;
          into = undefined;
          request = undefined;
          const table = requests();
          if (table[requestId] !== done) continue; // already failed (the channel went down meanwhile)
          delete table[requestId];
          // As ssh2's DATA handler: the answer is cut to the buffer asked for.
          done.cb?.(undefined, target, Math.min(at, target.length));
        }
        continue;
      }
      // Gather the header: length and type, and for DATA the request id and data length.
      const need = headerLen < 5 ? 5 : DATA_HEADER;
      const n = Math.min(need - headerLen, data.length - p);
      data.copy(header, headerLen, p, p + n);
      headerLen += n;
      p += n;
      if (headerLen < need) continue;
      const length = header.readUInt32BE(0);
      if (headerLen === 5 && header[4] === FXP_DATA && length >= DATA_HEADER - 4) continue; // read the rest of the DATA header
      if (headerLen === DATA_HEADER) {
        const reqId = header.readUInt32BE(5);
        const dataLength = header.readUInt32BE(9);
        const pending = requests()[reqId];
        if (dataLength === length - 9 && pending?.buffer && typeof pending.cb === "function") {
          headerLen = 0;
          if (dataLength === 0) {
            delete requests()[reqId];
            pending.cb(undefined, pending.buffer, 0);
            continue;
          }
          // It stays listed until its last byte is in: if the channel dies first, ssh2 fails it.
          requestId = reqId;
          request = pending;
          into = pending.buffer;
          at = 0;
          left = dataLength;
          continue;
        }
      }
      // Not ours: ssh2 parses the packet from its first byte.
      left = length + 4 - headerLen;
      result = parse(Buffer.from(header.subarray(0, headerLen)));
      headerLen = 0;
      passing = left > 0;
    }
    return result;
  };
}
