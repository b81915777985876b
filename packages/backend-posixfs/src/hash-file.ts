import { fstatSync } from "node:fs";
import { type Hasher, createHasher, digest } from "@borgstore/core";
import { throwIfAborted } from "@borgstore/core/backend";
import { fileStats, readSome } from "./fs-calls.js";
import { assertNotDirectory, readSized } from "./reads.js";

/** Objects up to this size are read whole (as a load reads them) and hashed in one call. */
export const HASH_WHOLE_LIMIT = 1024 * 1024;

/**
 * Larger ones are read in pieces of this size (the reference's file_digest reads 256 KiB at a
 * time) into two of the buffers below.
 */
const PIECE = 256 * 1024;

/**
 * Read buffers of HASH_WHOLE_LIMIT bytes, kept for the next hash: the bytes never leave this
 * module, and fresh memory for every hash costs page faults and cache misses on the kernel's copy
 * (measured, a 64 KiB hash read into a fresh buffer: ~6 µs more CPU than into a reused one, which
 * lost to the reference's hashlib, whose read buffer malloc hands straight back). A buffer goes back
 * only once no read into it is outstanding; after a failed read it is dropped.
 */
const IDLE_BUFFERS = 4;
const idleBuffers: Buffer[] = [];
/** Pooled buffers in existence (idle or lent out): never more than IDLE_BUFFERS. */
let pooled = 0;
const isPooled = new WeakSet<Buffer>();

/**
 * A buffer of at least `size` bytes: an idle pooled one, a new pooled one while fewer than
 * IDLE_BUFFERS exist, else one of exactly `size` bytes that is dropped after use. So many hashes
 * at once cost what their objects weigh, not a pooled buffer's size each (a breaker measured
 * 2,000 concurrent hashes of 1 MiB objects at 2 GiB when every hash took a buffer of its own).
 */
function takeBuffer(size: number): Buffer {
  const idle = idleBuffers.pop();
  if (idle) return idle;
  if (pooled >= IDLE_BUFFERS) return Buffer.allocUnsafeSlow(size);
  pooled++;
  const buffer = Buffer.allocUnsafeSlow(HASH_WHOLE_LIMIT);
  isPooled.add(buffer);
  return buffer;
}

/** Returns a pooled buffer once no read into it is outstanding; others are left to the collector. */
function giveBack(buffer: Buffer): void {
  if (isPooled.has(buffer)) idleBuffers.push(buffer);
}

/** A pooled buffer after a failed read (a read into it may still be running): it leaves the pool. */
function dropBuffer(buffer: Buffer): void {
  if (isPooled.delete(buffer)) pooled--;
}

/**
 * The digest of the whole open file. Not through a read stream, which cost more than the hash for
 * small objects (measured, 1 KiB sha256 one at a time: 180 µs through createReadStream, ~60 µs
 * read whole; the Python reference takes ~160 µs).
 */
export async function hashFile(fd: number, algorithm: string, sync: boolean, signal?: AbortSignal): Promise<string> {
  const stats = sync ? fstatSync(fd) : await fileStats(fd);
  assertNotDirectory(stats);
  if (stats.size > HASH_WHOLE_LIMIT) return hashPieces(fd, await createHasher(algorithm), signal);
  const buffer = takeBuffer(stats.size);
  let hex: string;
  try {
    // Taken back only after the digest: a wasm hasher may start later than this call.
    hex = await digest(algorithm, await readSized(fd, stats.size, sync, buffer));
  } catch (err) {
    dropBuffer(buffer);
    throw err;
  }
  giveBack(buffer);
  return hex;
}

/**
 * Reads the next piece in the thread pool while the main thread hashes the current one (the
 * reference reads, then hashes, in turn). Returns only once no read is outstanding: the caller
 * closes the descriptor next, and a read still running could then hit a reused descriptor number.
 */
async function hashPieces(fd: number, hasher: Hasher, signal: AbortSignal | undefined): Promise<string> {
  const pair = [takeBuffer(PIECE), takeBuffer(PIECE)];
  let [current, next] = pair.map((buffer) => buffer.subarray(0, PIECE)) as [Buffer, Buffer];
  let position = 0;
  let pending = readSome(fd, current, 0, PIECE, 0);
  try {
    for (;;) {
      const got = await pending;
      if (got === 0) return hasher.hexdigest();
      position += got;
      throwIfAborted(signal);
      pending = readSome(fd, next, 0, PIECE, position);
      hasher.update(current.subarray(0, got));
      [current, next] = [next, current];
    }
  } catch (err) {
    await pending.catch(() => undefined);
    throw err;
  } finally {
    // No read into the pair is outstanding here (see above): the next hash may have it.
    for (const buffer of pair) giveBack(buffer);
  }
}
