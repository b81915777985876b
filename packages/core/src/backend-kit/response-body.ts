import type { Readable } from "node:stream";
import { abortError } from "../abort.js";
import { BackendError } from "../errors.js";
import { joinChunks } from "../byte-source.js";

/** What {@link readResponseBody} needs besides the body. */
export interface ResponseBodyOptions {
  /** The response's Content-Length; undefined when it sent none (the chunks are then joined). */
  length: number | undefined;
  /** A caller's buffer to read into when the body fits (`load(name, { into })`). */
  into?: Uint8Array | undefined;
  /** Stops the read: the body (and with it its connection) is destroyed, and ABORTED thrown. */
  signal?: AbortSignal | undefined;
  /** Names the item and service in the error of a body that ends early or runs over. */
  what: string;
}

/**
 * The whole body of an HTTP response (a node:http IncomingMessage, an undici body, the AWS SDK's
 * Body) as one byte array, copied chunk by chunk into one buffer of the announced length.
 * The chunks are taken from 'data' events: async iteration costs a promise and a paused,
 * resumed socket per 16–64 KiB chunk, measured at 2–3× the CPU and wall time of this for a
 * 4 MiB body (scripts/bench/http-get-microbench.mjs). A body that ends short of its length or
 * runs over it fails with BACKEND_ERROR; the body's own errors (a lost connection) propagate as
 * they are, for the backend to translate.
 */
export function readResponseBody(body: Readable, options: ResponseBodyOptions): Promise<Uint8Array> {
  const { length, into, signal, what } = options;
  return new Promise<Uint8Array>((resolve, reject) => {
    const out = length === undefined ? undefined : into && into.byteLength >= length ? into : Buffer.allocUnsafeSlow(length);
    const chunks: Uint8Array[] = [];
    let at = 0;
    let settled = false;
    const finish = (error: unknown, bytes?: Uint8Array) => {
      if (settled) return;
      settled = true;
      body.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (error === undefined) resolve(bytes as Uint8Array);
      else {
        // A body read only in part holds its connection: destroying it closes that connection.
        body.on("error", () => undefined);
        body.destroy();
        reject(error);
      }
    };
    const onData = (chunk: Uint8Array) => {
      if (out === undefined) {
        chunks.push(chunk);
        at += chunk.byteLength;
        return;
      }
      if (at + chunk.byteLength > (length as number)) {
        finish(new BackendError(`${what}: the response sent more than its announced ${length} bytes`));
        return;
      }
      out.set(chunk, at);
      at += chunk.byteLength;
    };
    const onEnd = () => {
      if (out === undefined) return finish(undefined, joinChunks(chunks, at));
      if (at !== length) return finish(new BackendError(`${what}: the response ended after ${at} of its ${length} bytes`));
      finish(undefined, out === into ? into.subarray(0, at) : new Uint8Array(out.buffer, out.byteOffset, at));
    };
    const onError = (err: unknown) => finish(err);
    // A body cut off by its connection may only close, without an error or an end.
    const onClose = () => finish(new BackendError(`${what}: the response ended after ${at} of its ${length ?? "?"} bytes`));
    const onAbort = () => finish(abortError(signal as AbortSignal));
    if (signal?.aborted) return onAbort();
    // A body whose connection broke before this read (while the caller awaited something else)
    // has emitted its 'error' and 'close' already: none of the events below would come.
    if (body.destroyed) return finish(body.errored ?? new BackendError(`${what}: the response was closed before it was read`));
    signal?.addEventListener("abort", onAbort, { once: true });
    body.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}
