import { fstatSync } from "node:fs";
import { type Hasher, createHasher, digest, throwIfAborted } from "@borgstore/core";
import { fileStats, readSome } from "./fs-calls.js";
import { assertNotDirectory, readWhole } from "./reads.js";

/** Objects up to this size are read whole (as a load reads them) and hashed in one call. */
export const HASH_WHOLE_LIMIT = 1024 * 1024;

/**
 * Larger ones are read in pieces of this size (the reference's file_digest reads 256 KiB at a
 * time) into two buffers kept for the next hash: fresh buffers for every hash cost page faults,
 * measured as more CPU per 4 MiB hash than the reference's.
 */
const PIECE = 256 * 1024;
const IDLE_BUFFER_PAIRS = 4;
const idleBufferPairs: Array<[Buffer, Buffer]> = [];

/**
 * The digest of the whole open file. Not through a read stream, which cost more than the hash for
 * small objects (measured, 1 KiB sha256 one at a time: 180 µs through createReadStream, ~60 µs
 * read whole; the Python reference takes ~160 µs).
 */
export async function hashFile(fd: number, algorithm: string, sync: boolean, signal?: AbortSignal): Promise<string> {
  const stats = sync ? fstatSync(fd) : await fileStats(fd);
  assertNotDirectory(stats);
  if (stats.size <= HASH_WHOLE_LIMIT) return digest(algorithm, await readWhole(fd, sync));
  return hashPieces(fd, await createHasher(algorithm), signal);
}

/**
 * Reads the next piece in the thread pool while the main thread hashes the current one (the
 * reference reads, then hashes, in turn). Returns only once no read is outstanding: the caller
 * closes the descriptor next, and a read still running could then hit a reused descriptor number.
 */
async function hashPieces(fd: number, hasher: Hasher, signal: AbortSignal | undefined): Promise<string> {
  const pair = idleBufferPairs.pop() ?? [Buffer.allocUnsafeSlow(PIECE), Buffer.allocUnsafeSlow(PIECE)];
  let [current, next] = pair;
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
    if (idleBufferPairs.length < IDLE_BUFFER_PAIRS) idleBufferPairs.push(pair);
  }
}
