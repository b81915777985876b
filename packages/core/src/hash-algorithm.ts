/**
 * The hash algorithm names `hash` and `defrag` accept, as Python's hashlib spells them, plus the
 * non-cryptographic ones computed in WebAssembly. A package that makes another name work (any
 * digest OpenSSL offers is accepted at run time) adds it by augmenting this interface:
 *
 * ```ts
 * declare module "@borgstore/core" { interface HashAlgorithms { ripemd160: true } }
 * ```
 */
export interface HashAlgorithms {
  /** BLAKE2b-512 (hashlib's blake2b). */
  blake2b: true;
  /** BLAKE2s-256 (hashlib's blake2s). */
  blake2s: true;
  /** MD5. */
  md5: true;
  /** SHA-1. */
  sha1: true;
  /** SHA-224. */
  sha224: true;
  /** SHA-256, the default. */
  sha256: true;
  /** SHA-384. */
  sha384: true;
  /** SHA-512. */
  sha512: true;
  /** SHA-512/224. */
  sha512_224: true;
  /** SHA-512/256. */
  sha512_256: true;
  /** SHA3-224. */
  sha3_224: true;
  /** SHA3-256. */
  sha3_256: true;
  /** SHA3-384. */
  sha3_384: true;
  /** SHA3-512. */
  sha3_512: true;
  /** BLAKE3 (256-bit, WebAssembly). */
  blake3: true;
  /** xxHash64 (non-cryptographic, WebAssembly). */
  xxh64: true;
  /** XXH3-64 (non-cryptographic, WebAssembly). */
  xxh3: true;
  /** XXH3-128 (non-cryptographic, WebAssembly). */
  xxh128: true;
}

/** A hash algorithm name; a typo such as "sha257" does not compile. */
export type HashAlgorithm = keyof HashAlgorithms & string;
