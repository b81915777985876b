import type { ItemInfo } from "@borgstore/core";

/**
 * JSON as Python's json.dumps writes it, which is what the reference sends: ", " / ": "
 * separators, ASCII only, and floats always with a fraction (1795301028.0, not 1795301028).
 */

/** A JSON string literal with everything outside printable ASCII escaped (ensure_ascii). */
export function pythonJsonString(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Python's str(float) for an atime; 0 (unknown) stays the int 0 as the reference sends it. */
export function pythonFloat(value: number): string {
  if (value === 0) return "0";
  if (!Number.isFinite(value)) return "0";
  const text = String(value);
  return Number.isInteger(value) && !text.includes("e") ? `${text}.0` : text;
}

/** One list entry, indented as json.dumps(indent=2) does inside the top-level array. */
function listEntry(item: ItemInfo): string {
  return (
    "  {\n" +
    `    "name": ${pythonJsonString(item.name)},\n` +
    `    "size": ${Math.trunc(item.size)},\n` +
    `    "directory": ${item.directory ? "true" : "false"},\n` +
    `    "atime": ${pythonFloat(item.atime)}\n` +
    "  }"
  );
}

/**
 * Serialises a listing entry by entry as it arrives from the backend. The result is one buffer
 * because the wire needs a Content-Length up front (the Python stdio client reads no chunked bodies).
 */
export async function listJson(items: AsyncIterable<ItemInfo>): Promise<Buffer> {
  const parts: string[] = [];
  for await (const item of items) parts.push(listEntry(item));
  return Buffer.from(parts.length === 0 ? "[]" : `[\n${parts.join(",\n")}\n]`, "latin1");
}

export function quotaJson(limit: number, usage: number): string {
  return `{"limit": ${Math.trunc(limit)}, "usage": ${Math.trunc(usage)}}`;
}
