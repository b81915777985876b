import { createHash } from "node:crypto";
import { ContentHashMismatch, ContentLengthMismatch } from "@borgstore/core";

/**
 * Reads a request body of the announced `size` into one buffer and checks its SHA-256 when one
 * was announced. Each chunk is copied into place and hashed as it arrives, so the hashing overlaps
 * the upload, no chunk list is kept alive, and the buffer is not zero-filled first (every byte of
 * it is written before use: a short body is an error). A body that arrives in one chunk is used as
 * is, unless `into` (at least `size` bytes, e.g. from a BufferPool) is given to receive it.
 */
export async function receiveWhole(
  body: AsyncIterable<Uint8Array>,
  size: number,
  sha256: string | undefined,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const hash = sha256 === undefined ? undefined : createHash("sha256");
  let value: Uint8Array | undefined = into?.subarray(0, size);
  let received = 0;
  for await (const chunk of body) {
    if (received + chunk.byteLength > size) throw new ContentLengthMismatch(`received more than the announced ${size} bytes`);
    hash?.update(chunk);
    if (received === 0 && chunk.byteLength === size && value === undefined) value = chunk;
    else {
      value ??= Buffer.allocUnsafeSlow(size);
      value.set(chunk, received);
    }
    received += chunk.byteLength;
  }
  if (received !== size) throw new ContentLengthMismatch(`received ${received} of the announced ${size} bytes`);
  if (hash !== undefined && hash.digest("hex") !== sha256) throw new ContentHashMismatch();
  return value ?? new Uint8Array(0);
}
