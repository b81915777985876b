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
  blake2b: true;
  blake2s: true;
  md5: true;
  sha1: true;
  sha224: true;
  sha256: true;
  sha384: true;
  sha512: true;
  sha512_224: true;
  sha512_256: true;
  sha3_224: true;
  sha3_256: true;
  sha3_384: true;
  sha3_512: true;
  blake3: true;
  xxh64: true;
  xxh3: true;
  xxh128: true;
}

/** A hash algorithm name; a typo such as "sha257" does not compile. */
export type HashAlgorithm = keyof HashAlgorithms & string;
