import { createHash, getHashes } from "node:crypto";
import { createBLAKE3, createXXHash3, createXXHash64, createXXHash128 } from "hash-wasm";
import { InvalidArgument, UnsupportedHashAlgorithm } from "./errors.js";
import type { ByteSource } from "./types.js";

/** An incremental hash: feed bytes, then read the lowercase hex digest once. */
export interface Hasher {
  /** Feeds more bytes. */
  update(data: Uint8Array): void;
  /** The lowercase hex digest of all bytes fed; call once, at the end. */
  hexdigest(): string;
}

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

/** Extra algorithms computed with hash-wasm (WebAssembly, no native build). */
const WASM_ALGORITHMS: Readonly<Record<string, () => Promise<Hasher>>> = {
  blake3: async () => wrapWasm(await createBLAKE3()),
  xxh64: async () => wrapWasm(await createXXHash64()),
  xxh3: async () => wrapWasm(await createXXHash3()),
  xxh128: async () => wrapWasm(await createXXHash128()),
};

const VARIABLE_LENGTH = new Set(["shake_128", "shake_256", "shake128", "shake256"]);

let opensslNames: Set<string> | undefined;

function opensslName(algorithm: string): string | undefined {
  opensslNames ??= new Set(getHashes().map((n) => n.toLowerCase()));
  const lower = algorithm.toLowerCase();
  const candidate = PYTHON_TO_OPENSSL[lower] ?? lower;
  return opensslNames.has(candidate) ? candidate : undefined;
}

interface WasmHasher {
  update(data: Uint8Array): unknown;
  digest(encoding: "hex"): string;
}

function wrapWasm(h: WasmHasher & { init(): unknown }): Hasher {
  h.init();
  return {
    update: (data) => void h.update(data),
    hexdigest: () => h.digest("hex"),
  };
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

/** A new incremental hasher for `algorithm` (reference: hashing.new). */
export async function createHasher(algorithm: string): Promise<Hasher> {
  checkHashAlgorithm(algorithm);
  const wasm = WASM_ALGORITHMS[algorithm];
  if (wasm) return wasm();
  const h = createHash(opensslName(algorithm) as string);
  return {
    update: (data) => void h.update(data),
    hexdigest: () => h.digest("hex"),
  };
}

/** Hex digest of bytes in memory. */
export async function digest(algorithm: string, data: Uint8Array): Promise<string> {
  const h = await createHasher(algorithm);
  h.update(data);
  return h.hexdigest();
}

/** Hex digest of a stream, read chunk by chunk (reference: hashing.file_digest). */
export async function streamDigest(algorithm: string, source: ByteSource): Promise<string> {
  const h = await createHasher(algorithm);
  for await (const chunk of source) h.update(chunk);
  return h.hexdigest();
}
