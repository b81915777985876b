import type { ByteSource } from "@borgstore/core";
import type { SftpRequests } from "./connection.js";

/** How a transfer is cut into SFTP requests and how many of them are outstanding at once. */
export interface TransferTuning {
  /** Bytes per READ/WRITE request; capped by what the server accepts. */
  chunkSize: number;
  /** READ/WRITE requests in flight per transfer, per SFTP channel it uses. */
  requestsInFlight: number;
  /**
   * A store at least this big (bytes), over a link whose round-trip time is at least
   * `spreadRoundTrip` (ms), goes over all of the connection's SFTP channels at once (loads never
   * do: they read only through the handle opened first).
   */
  spreadBytes: number;
  /** Round-trip time (ms) from which stores of at least `spreadBytes` are spread over all channels. */
  spreadRoundTrip: number;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** A file open on one SFTP channel: a transfer may use several, one per channel. */
export interface Lane {
  conn: SftpRequests;
  handle: Buffer;
}

interface WriteLane extends Lane {
  inFlight: number;
  closeSent: boolean;
}

/**
 * Writes to open handles with many WRITE requests outstanding, instead of one round trip per
 * chunk. With several lanes (the same file open on several channels) each chunk goes to the least
 * busy one, each lane with its own window of `requestsInFlight`: over a high-latency link every
 * channel adds its own flow-control window. `write` waits only while every window is full;
 * `finish` waits for every acknowledgement and rethrows the first failure.
 */
export class PipelinedWriter {
  readonly #lanes: WriteLane[];
  readonly #chunk: number;
  readonly #window: number;
  #position = 0;
  #inFlight = 0;
  #failure: unknown;
  #wake: (() => void) | undefined;

  constructor(lanes: Lane[], tuning: TransferTuning) {
    this.#lanes = lanes.map((lane) => ({ ...lane, inFlight: 0, closeSent: false }));
    this.#chunk = Math.min(tuning.chunkSize, ...lanes.map((lane) => lane.conn.maxChunk));
    this.#window = Math.max(1, tuning.requestsInFlight);
  }

  get position(): number {
    return this.#position;
  }

  async write(data: Uint8Array): Promise<void> {
    const buffer = asBuffer(data);
    for (let at = 0; at < buffer.length; at += this.#chunk) {
      let lane = this.#leastBusy();
      while (lane.inFlight >= this.#window && this.#failure === undefined) {
        await this.#waitForSlot();
        lane = this.#leastBusy();
      }
      if (this.#failure !== undefined) throw this.#failure;
      const length = Math.min(this.#chunk, buffer.length - at);
      const target = lane;
      target.inFlight++;
      this.#inFlight++;
      target.conn.write(target.handle, buffer, at, length, this.#position).then(
        () => this.#settle(target),
        (err) => {
          this.#failure ??= err;
          this.#settle(target);
        },
      );
      this.#position += length;
    }
  }

  async finish(): Promise<void> {
    while (this.#inFlight > 0) await this.#waitForSlot();
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Sends each lane's CLOSE right behind its last WRITE instead of after their acknowledgement (the
   * server handles one channel's requests in order), then waits for all of them: one round trip less.
   */
  async finishAndClose(): Promise<void> {
    const closing = this.#lanes.map((lane) => {
      lane.closeSent = true;
      const closed = lane.conn.closeHandle(lane.handle);
      closed.catch(() => {}); // a write failure is the one to report
      return closed;
    });
    await this.finish();
    await Promise.all(closing);
  }

  /** Closes the handles whose CLOSE was not sent yet (cleanup after a failure); never throws. */
  async closeUnclosed(): Promise<void> {
    await Promise.all(
      this.#lanes.filter((lane) => !lane.closeSent).map((lane) => {
        lane.closeSent = true;
        return lane.conn.closeHandle(lane.handle).catch(() => {});
      }),
    );
  }

  /** Waits for the outstanding requests without caring about their outcome (for cleanup after a failure). */
  async drain(): Promise<void> {
    while (this.#inFlight > 0) await this.#waitForSlot();
  }

  #leastBusy(): WriteLane {
    let best = this.#lanes[0] as WriteLane;
    for (const lane of this.#lanes) if (lane.inFlight < best.inFlight) best = lane;
    return best;
  }

  #settle(lane: WriteLane): void {
    lane.inFlight--;
    this.#inFlight--;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #waitForSlot(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.#wake;
      this.#wake = () => {
        previous?.();
        resolve();
      };
    });
  }
}

/** Writes a whole source through `writer`, then closes the handle; waits for outstanding requests on failure. */
export async function writeSource(writer: PipelinedWriter, source: ByteSource): Promise<void> {
  try {
    for await (const chunk of source) await writer.write(chunk);
    await writer.finishAndClose();
  } catch (err) {
    await writer.drain();
    throw err;
  }
}

/**
 * Reads [start, end) of an open file with parallel READ requests into a new buffer. Short answers
 * (the server may send less than asked) are followed up; reading stops early at end of file.
 */
export async function readRange(
  conn: SftpRequests,
  handle: Buffer,
  start: number,
  end: number,
  tuning: TransferTuning,
  signal?: AbortSignal,
): Promise<Buffer> {
  const out = Buffer.allocUnsafe(Math.max(0, end - start));
  const got = await readRangeInto([{ conn, handle }], out, 0, start, end, tuning, signal);
  return got < out.length ? out.subarray(0, got) : out;
}

/**
 * Reads [start, end) of an open file with parallel READ requests straight into
 * `out[outOffset…]` (which must have room for end - start bytes), so a whole-object load is
 * received into its final buffer without another copy. Each lane (the file open on a channel)
 * keeps `requestsInFlight` requests outstanding.
 * Returns how many bytes were read: fewer than asked when the file ends early. Once `signal`
 * fires no more requests go out, and it throws the signal's reason when the outstanding ones are in.
 */
export async function readRangeInto(
  lanes: Lane[],
  out: Buffer,
  outOffset: number,
  start: number,
  end: number,
  tuning: TransferTuning,
  signal?: AbortSignal,
): Promise<number> {
  const total = Math.max(0, end - start);
  if (total === 0) return 0;
  const chunk = Math.min(tuning.chunkSize, ...lanes.map((lane) => lane.conn.maxChunk));
  let next = 0; // next offset (relative to start) not yet requested
  let eofAt = total; // first offset known to be past the end of the file
  const fill = async ({ conn, handle }: Lane, from: number, to: number): Promise<void> => {
    let at = from;
    while (at < to && at < eofAt && !signal?.aborted) {
      const n = await conn.read(handle, out, outOffset + at, to - at, start + at);
      if (n === 0) {
        eofAt = Math.min(eofAt, at);
        return;
      }
      at += n;
    }
  };
  const worker = async (lane: Lane): Promise<void> => {
    while (next < total && next < eofAt && !signal?.aborted) {
      const from = next;
      const to = Math.min(total, from + chunk);
      next = to;
      await fill(lane, from, to);
    }
  };
  const perLane = Math.max(1, Math.min(tuning.requestsInFlight, Math.ceil(total / chunk)));
  const spawn = (some: Lane[]) => some.flatMap((lane) => Array.from({ length: perLane }, () => worker(lane)));
  const workers = spawn(lanes);
  await Promise.all(workers);
  signal?.throwIfAborted();
  return Math.min(eofAt, total);
}

/** An open remote file: the channel it belongs to and its handle. */
export type OpenFile = Lane;

/**
 * Streams [start, end) of an open file in order, keeping up to `requestsInFlight` READ requests
 * ahead of the consumer. `onDone(file)` runs when the stream ends, fails or is abandoned.
 */
export async function* readRangeStream(
  file: OpenFile,
  start: number,
  end: number,
  tuning: TransferTuning,
  onDone: (file: OpenFile) => void,
): ByteSource {
  const chunk = Math.min(tuning.chunkSize, file.conn.maxChunk);
  const pending: Array<Promise<Buffer>> = [];
  let next = start;
  const schedule = () => {
    while (pending.length < tuning.requestsInFlight && next < end) {
      const from = next;
      const to = Math.min(end, from + chunk);
      next = to;
      const data = readRange(file.conn, file.handle, from, to, { ...tuning, chunkSize: chunk, requestsInFlight: 1 });
      data.catch(() => {}); // observed when awaited; avoids an unhandled rejection if abandoned
      pending.push(data);
    }
  };
  try {
    schedule();
    while (pending.length > 0) {
      const data = await (pending.shift() as Promise<Buffer>);
      if (data.length === 0) break;
      yield data;
      schedule();
    }
  } finally {
    onDone(file);
  }
}
