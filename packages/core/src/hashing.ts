import { createHash, getHashes } from "node:crypto";
import { InvalidArgument, UnsupportedHashAlgorithm } from "./errors.js";
import type { ByteSource } from "./types.js";
import { type Hasher, WASM_ALGORITHMS } from "./wasm-hashers.js";

export type { Hasher } from "./wasm-hashers.js";

/** Python hashlib spellings → OpenSSL names, where they differ. */
const PYTHON_TO_OPENSSL: Readonly<Record<string, string>> = {
  blake2b: "blake2b512",
  blake2s: "blake2s256",
  sha3_224: "sha3-224",
  sha3_256: "sha3-256",
  sha3_384: "sha3-384",
  sha3_512: "sha3-512",
  sha512_224: "sha512-224",
  sha512_256: "sha512-256",
};

/** The names hashlib guarantees (hashlib.algorithms_guaranteed), spelled as Python spells them. */
export const GUARANTEED_ALGORITHMS = [
  "blake2b",
  "blake2s",
  "md5",
  "sha1",
  "sha224",
  "sha256",
  "sha384",
  "sha3_224",
  "sha3_256",
  "sha3_384",
  "sha3_512",
  "sha512",
] as const;

const VARIABLE_LENGTH = new Set(["shake_128", "shake_256", "shake128", "shake256"]);

let opensslNames: Set<string> | undefined;

function opensslName(algorithm: string): string | undefined {
  opensslNames ??= new Set(getHashes().map((n) => n.toLowerCase()));
  const lower = algorithm.toLowerCase();
  const candidate = PYTHON_TO_OPENSSL[lower] ?? lower;
  return opensslNames.has(candidate) ? candidate : undefined;
}

/**
 * Throws UnsupportedHashAlgorithm unless `algorithm` can be hashed here. Called before any I/O so
 * a bad name never touches storage.
 */
export function checkHashAlgorithm(algorithm: unknown): asserts algorithm is string {
  if (typeof algorithm !== "string" || algorithm === "") throw new UnsupportedHashAlgorithm(String(algorithm));
  if (VARIABLE_LENGTH.has(algorithm.toLowerCase()))
    throw new InvalidArgument(`${algorithm} has a variable-length digest: give a fixed-length algorithm`);
  if (!Object.hasOwn(WASM_ALGORITHMS, algorithm) && opensslName(algorithm) === undefined)
    throw new UnsupportedHashAlgorithm(algorithm);
}

/** All algorithm names accepted, for help texts and tests. */
export function supportedHashAlgorithms(): string[] {
  return [...GUARANTEED_ALGORITHMS, ...Object.keys(WASM_ALGORITHMS)];
}

const wasmAlgorithm = (algorithm: string) => (Object.hasOwn(WASM_ALGORITHMS, algorithm) ? WASM_ALGORITHMS[algorithm] : undefined);

/** A new incremental hasher for `algorithm` (reference: hashing.new). */
export async function createHasher(algorithm: string): Promise<Hasher> {
  checkHashAlgorithm(algorithm);
  const wasm = wasmAlgorithm(algorithm);
  if (wasm) return wasm.hasher();
  const h = createHash(opensslName(algorithm) as string);
  return {
    update: (data) => void h.update(data),
    hexdigest: () => h.digest("hex"),
  };
}

/** Hex digest of bytes in memory. */
export async function digest(algorithm: string, data: Uint8Array): Promise<string> {
  checkHashAlgorithm(algorithm);
  const wasm = wasmAlgorithm(algorithm);
  if (wasm) return wasm.digest(data);
  return createHash(opensslName(algorithm) as string)
    .update(data)
    .digest("hex");
}

/**
 * Hex digest of a stream, read chunk by chunk (reference: hashing.file_digest). A stream of one
 * chunk (a small object read in one go) is digested as a value in memory, by the one-shot path.
 */
export async function streamDigest(algorithm: string, source: ByteSource): Promise<string> {
  checkHashAlgorithm(algorithm);
  const chunks = source[Symbol.asyncIterator]();
  let exhausted = false;
  const next = async () => {
    const step = await chunks.next();
    exhausted = step.done === true;
    return step;
  };
  try {
    const first = await next();
    if (first.done) return await digest(algorithm, new Uint8Array(0));
    const second = await next();
    if (second.done) return await digest(algorithm, first.value);
    const h = await createHasher(algorithm);
    h.update(first.value);
    h.update(second.value);
    for (let step = await next(); !step.done; step = await next()) h.update(step.value);
    return h.hexdigest();
  } finally {
    // As `for await` would: a source left early (an error here) is told to close.
    if (!exhausted) await chunks.return?.();
  }
}
