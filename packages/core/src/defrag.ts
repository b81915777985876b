import { throwIfAborted } from "./abort.js";
import type { Backend } from "./backend.js";
import { ContentHashMismatch, InvalidArgument, ReadRangeError } from "./errors.js";
import { createHasher, streamDigest } from "./hashing.js";
import { nest } from "./nesting.js";
import { validateLoadOptions } from "./range.js";
import type { ByteSource, DefragOptions, DefragSource, LoadOptions } from "./types.js";

/** Opens one range of an object as a stream (Backend.loadStream: permission, name and range checks). */
export type RangeLoader = (name: string, options: LoadOptions) => Promise<ByteSource>;

/**
 * The defrag result as a stream: each source range is loaded and passed on chunk by chunk, one
 * range after the other, so memory stays at a few chunks whatever the sizes. A range that yields
 * fewer (or more) bytes than asked fails with ReadRangeError before the stream ends, so a store
 * fed from it publishes nothing.
 */
export async function* concatenatedRanges(load: RangeLoader, checked: CheckedDefragSources): ByteSource {
  for (const [name, offset, size] of checked.readable) {
    let got = 0;
    for await (const chunk of await load(name, { offset, size })) {
      got += chunk.byteLength;
      if (got > size) break;
      yield chunk;
    }
    if (got !== size)
      throw new ReadRangeError(`Read range error from ${name} (requested ${size} bytes at offset ${offset}, got ${got})`);
  }
  if ("problem" in checked) throw checked.problem;
}

/** The sources a defrag may read, and the error of the first one it must not (if any). */
export interface CheckedDefragSources {
  /** The sources before the first bad one: they are read, in order, before `problem` is raised. */
  readable: readonly DefragSource[];
  /** Bytes the readable sources add up to. */
  size: number;
  /** The error of the first source that failed its checks, raised after the readable ones were read. */
  problem?: unknown;
}

/**
 * Checks each source, in order, before any is read: its shape, then `checkName` (name and read
 * permission). The reference loads source after source, so a source that fails these checks
 * fails the defrag only after the sources before it were read (a missing first source is
 * ObjectNotFound even when a later name is invalid): the sources before the first bad one are
 * returned to be read first, and the bad one's error to be raised after them. Without any bad
 * source, nothing is raised. A total beyond 2^53 is InvalidArgument.
 */
export function checkDefragSources(sources: readonly DefragSource[], checkName: (name: string) => void): CheckedDefragSources {
  if (!Array.isArray(sources)) throw new InvalidArgument("defrag sources must be an array of [name, offset, size]");
  let size = 0;
  for (const [index, source] of sources.entries()) {
    try {
      if (!Array.isArray(source) || source.length !== 3)
        throw new InvalidArgument(`defrag source must be [name, offset, size], but got: ${String(source)}`);
      const [name, offset, length] = source;
      checkName(name);
      validateLoadOptions({ offset, size: length });
      if (typeof length !== "number") throw new InvalidArgument(`size must be a non-negative integer, but got: ${length}`);
      size += length;
    } catch (problem) {
      if (index === 0) throw problem;
      return { readable: sources.slice(0, index), size, problem };
    }
  }
  if (!Number.isSafeInteger(size)) throw new InvalidArgument(`defrag result too large: ${size} bytes`);
  return { readable: sources, size };
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

/**
 * Backend's default defrag (the reference's), run on `backend`: the ranges are read through its
 * public loadStream and written by one call of its public storeStream, so a layer that overrides
 * `_defrag` to do its own bookkeeping around it (a quota, a permission view) can still defrag with
 * its own reads and store rather than hand the call to the backend it wraps, as BackendLayer does.
 * Memory stays at a few chunks whatever the sizes. A digest-derived name needs the digest first:
 * one pass hashes the ranges, a second stores them and checks they still hash the same.
 */
export async function defaultDefrag(backend: Backend, sources: CheckedDefragSources, options: DefragOptions): Promise<string> {
  const { target, algorithm, namespace, levels = 0, signal } = options;
  const { size } = sources;
  const ranges = () => concatenatedRanges((name, range) => backend.loadStream(name, { ...range, signal }), sources);
  // A defrag bound to fail stores nothing: its sources are read for their errors, in order, and
  // no store is started (a store whose body reads other objects would also wait forever on a
  // transport that carries one request at a time, as REST over stdio does).
  if ("problem" in sources) {
    for await (const _ of ranges()) throwIfAborted(signal);
  }
  if (target) {
    await storeDefragged(backend, target, ranges(), size, signal);
    return target;
  }
  const key = await streamDigest(algorithm as string, ranges());
  const ns = namespace ? namespace.replace(/\/+$/, "") : "";
  const name = nest(ns ? `${ns}/${key}` : key, levels);
  await storeDefragged(backend, name, digestCheckedSource(ranges(), algorithm as string, key), size, signal);
  return name;
}

/** storeStream from a defrag stream; its own error (ReadRangeError, a missing source) wins over a backend's wrapping of it. */
async function storeDefragged(backend: Backend, name: string, source: ByteSource, size: number, signal: AbortSignal | undefined): Promise<void> {
  let sourceError: unknown;
  async function* remembered(): ByteSource {
    try {
      yield* source;
    } catch (err) {
      sourceError = err;
      throw err;
    }
  }
  try {
    await backend.storeStream(name, remembered(), { size, signal });
  } catch (err) {
    throw sourceError ?? err;
  }
}
