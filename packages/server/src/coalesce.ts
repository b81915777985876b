import type { ByteSource } from "@borgstore/core";

/**
 * Regroups a socket's small chunks (typically 64 KiB) into pieces of at least `target` bytes, so a
 * streaming backend writes a 4 MiB upload in 4 calls instead of 64. It copies each byte once, which
 * costs far less than the file-system round trips it saves; memory stays bounded by `target`.
 */
export async function* coalesce(source: ByteSource, target = 1024 * 1024): ByteSource {
  let pending: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    if (size === 0 && chunk.byteLength >= target) {
      yield chunk;
      continue;
    }
    pending.push(chunk);
    size += chunk.byteLength;
    if (size >= target) {
      yield Buffer.concat(pending, size);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending, size);
}
