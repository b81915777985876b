import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { ContentHashMismatch, ContentLengthMismatch } from "@borgstore/core";

/**
 * Reads a request body of the announced `size` into one buffer and checks its SHA-256 when one
 * was announced. Each chunk is copied into place and hashed as it arrives, so the hashing overlaps
 * the upload, no chunk list is kept alive, and the buffer is not zero-filled first (every byte of
 * it is written before use: a short body is an error). A body that arrives in one chunk is used as
 * is, unless `into` (at least `size` bytes, e.g. from a BufferPool) is given to receive it.
 * Chunks are taken from 'data' events rather than an async iterator: a promise round trip per
 * 64 KiB chunk cost about a sixth of the server's CPU for a 4 MiB upload.
 */
export function receiveWhole(body: Readable, size: number, sha256: string | undefined, into?: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const hash = sha256 === undefined ? undefined : createHash("sha256");
    let value: Uint8Array | undefined = into?.subarray(0, size);
    let received = 0;
    const short = () => new ContentLengthMismatch(`received ${received} of the announced ${size} bytes`);
    const stop = () => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
    };
    const onData = (chunk: Uint8Array) => {
      if (received + chunk.byteLength > size) {
        stop();
        body.destroy();
        reject(new ContentLengthMismatch(`received more than the announced ${size} bytes`));
        return;
      }
      hash?.update(chunk);
      if (received === 0 && chunk.byteLength === size && value === undefined) value = chunk;
      else {
        value ??= Buffer.allocUnsafeSlow(size);
        value.set(chunk, received);
      }
      received += chunk.byteLength;
    };
    const onEnd = () => {
      stop();
      if (received !== size) reject(short());
      else if (hash !== undefined && hash.digest("hex") !== sha256) reject(new ContentHashMismatch());
      else resolve(value ?? new Uint8Array(0));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    // A body cut off by the client ends in 'close' without 'end'.
    const onClose = () => {
      stop();
      reject(short());
    };
    if (body.readableEnded) return onEnd();
    if (body.destroyed) return onClose();
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
    body.once("close", onClose);
  });
}
