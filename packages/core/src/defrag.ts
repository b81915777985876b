import { ContentHashMismatch, InvalidArgument, ReadRangeError } from "./errors.js";
import { createHasher } from "./hashing.js";
import { validateLoadOptions } from "./range.js";
import type { ByteSource, DefragSource, LoadOptions } from "./types.js";

/** Opens one range of an object as a stream (Backend.loadStream: permission, name and range checks). */
export type RangeLoader = (name: string, options: LoadOptions) => Promise<ByteSource>;

/**
 * The defrag result as a stream: each source range is loaded and passed on chunk by chunk, one
 * range after the other, so memory stays at a few chunks whatever the sizes. A range that yields
 * fewer (or more) bytes than asked fails with ReadRangeError before the stream ends, so a store
 * fed from it publishes nothing.
 */
export async function* concatenatedRanges(load: RangeLoader, sources: readonly DefragSource[]): ByteSource {
  for (const [name, offset, size] of sources) {
    let got = 0;
    for await (const chunk of await load(name, { offset, size })) {
      got += chunk.byteLength;
      if (got > size) break;
      yield chunk;
    }
    if (got !== size)
      throw new ReadRangeError(`Read range error from ${name} (requested ${size} bytes at offset ${offset}, got ${got})`);
  }
}

/**
 * Checks every source before any is read (`checkName`: name and read permission) and returns the
 * size of the result. InvalidArgument for a malformed triple or a total beyond 2^53.
 */
export function checkDefragSources(sources: readonly DefragSource[], checkName: (name: string) => void): number {
  if (!Array.isArray(sources)) throw new InvalidArgument("defrag sources must be an array of [name, offset, size]");
  let total = 0;
  for (const source of sources) {
    if (!Array.isArray(source) || source.length !== 3)
      throw new InvalidArgument(`defrag source must be [name, offset, size], but got: ${String(source)}`);
    const [name, offset, size] = source;
    checkName(name);
    validateLoadOptions({ offset, size });
    if (typeof size !== "number") throw new InvalidArgument(`size must be a non-negative integer, but got: ${size}`);
    total += size;
  }
  if (!Number.isSafeInteger(total)) throw new InvalidArgument(`defrag result too large: ${total} bytes`);
  return total;
}

/**
 * Passes `source` through and, before the consumer sees its end, checks that the bytes hash to
 * `expected`: the name of a digest-named defrag target is computed in a first pass over the
 * sources, and a source changed before the second pass must not be stored under that name.
 */
export async function* digestCheckedSource(source: ByteSource, algorithm: string, expected: string): ByteSource {
  const hasher = await createHasher(algorithm);
  for await (const chunk of source) {
    hasher.update(chunk);
    yield chunk;
  }
  if (hasher.hexdigest() !== expected)
    throw new ContentHashMismatch("defrag sources changed while the target was written, please retry");
}
