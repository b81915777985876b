import { readFileSync } from "node:fs";
import { type SecureContextOptions, type Server as TlsServer, createSecureContext } from "node:tls";

/** The certificate chain and key files of `--tls-cert` / `--tls-key` (PEM). */
export interface TlsFiles {
  /** The certificate chain file (PEM). */
  certFile: string;
  /** Its private key file (PEM). */
  keyFile: string;
}

/** The PEM texts of TlsFiles. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

/** A certificate or key that cannot be read, parsed, or does not belong together. */
export class TlsConfigurationError extends Error {
  override name = "TlsConfigurationError";
}

/**
 * Reads and checks the files: both readable, PEM that Node's TLS accepts, key matching the
 * certificate (createSecureContext checks that), so a broken pair is refused here and not at the
 * first handshake.
 */
export function readTlsCredentials(files: TlsFiles): TlsCredentials {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TlsConfigurationError(`cannot read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const credentials = { cert: read(files.certFile, "certificate"), key: read(files.keyFile, "key") };
  try {
    createSecureContext(credentials);
  } catch (err) {
    // OpenSSL's reason (e.g. "key values mismatch"); never the key's bytes.
    throw new TlsConfigurationError(`the TLS certificate ${files.certFile} and key ${files.keyFile} are not usable: ${(err as Error).message}`);
  }
  return credentials;
}

/**
 * Reads the files again and puts them in service for new connections; open connections keep
 * the certificate they were set up with and are not dropped. A broken pair throws
 * TlsConfigurationError and leaves the certificate in use unchanged.
 */
export function reloadTlsCredentials(server: TlsServer, files: TlsFiles): void {
  const credentials: SecureContextOptions = readTlsCredentials(files);
  server.setSecureContext(credentials);
}
