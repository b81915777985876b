import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ByteSource } from "@borgstore/core";

/** Up to this many bytes stay in memory; a larger value spills into a temp file. */
const MEMORY_LIMIT = 8 * 1024 * 1024;

/** A stream of unknown length, read to its end so it can be sent (and re-sent) with a Content-Length. */
export interface Spooled {
  readonly length: number;
  readonly sha256: string;
  /** The bytes, or a fresh stream of them for each call. */
  content(): Uint8Array | ByteSource;
  dispose(): Promise<void>;
}

export async function spool(source: ByteSource): Promise<Spooled> {
  const hash = createHash("sha256");
  const chunks: Uint8Array[] = [];
  let length = 0;
  let file: { dir: string; path: string; handle: Awaited<ReturnType<typeof open>> } | undefined;
  try {
    for await (const chunk of source) {
      hash.update(chunk);
      length += chunk.byteLength;
      if (!file && length > MEMORY_LIMIT) {
        const dir = await mkdtemp(join(tmpdir(), "borgstore-rest-"));
        const path = join(dir, "spool");
        file = { dir, path, handle: await open(path, "w", 0o600) };
        for (const c of chunks.splice(0)) await file.handle.write(c);
      }
      if (file) await file.handle.write(chunk);
      else chunks.push(chunk);
    }
    await file?.handle.close();
  } catch (err) {
    if (file) {
      await file.handle.close().catch(() => undefined);
      await rm(file.dir, { recursive: true, force: true });
    }
    throw err;
  }
  const sha256 = hash.digest("hex");
  if (file) {
    const { dir, path } = file;
    return {
      length,
      sha256,
      content: () => createReadStream(path, { highWaterMark: 1024 * 1024 }),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  }
  const bytes = chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
  return { length, sha256, content: () => bytes, dispose: async () => undefined };
}

/**
 * Passes chunks on one step late: the last chunk goes out only once the source has ended without
 * error. A source failing its size/hash check at the end thus leaves the upload one chunk short of
 * its Content-Length, and the server never stores it.
 */
export async function* withheldEnd(source: ByteSource): ByteSource {
  let held: Uint8Array | undefined;
  for await (const chunk of source) {
    if (chunk.byteLength === 0) continue;
    if (held) yield held;
    held = chunk;
  }
  if (held) yield held;
}
