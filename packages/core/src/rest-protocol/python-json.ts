import { BackendError, InvalidArgument } from "../errors.js";
import type { DefragSource, ItemInfo, QuotaInfo } from "../types.js";

/*
 * JSON as Python's json.dumps writes it, which is what the reference sends: ", " / ": "
 * separators, ASCII only, and floats always with a fraction (1795301028.0, not 1795301028).
 * Decoding is plain JSON.parse: Python reads what JSON.stringify writes and the other way round.
 */

/** A JSON string literal with everything outside printable ASCII escaped (Python's ensure_ascii). */
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
 * A listing's reply body (docs/rest-protocol.md#listings), serialised entry by entry as it arrives
 * from the backend. The result is one buffer because the wire needs a Content-Length up front (the
 * Python stdio client reads no chunked bodies).
 */
export async function encodeList(items: AsyncIterable<ItemInfo>): Promise<Buffer> {
  const parts: string[] = [];
  for await (const item of items) parts.push(listEntry(item));
  return Buffer.from(parts.length === 0 ? "[]" : `[\n${parts.join(",\n")}\n]`, "latin1");
}

/** JSON.parse of a reply body; BackendError when it is no JSON. */
function parseReply(json: string, what: string): unknown {
  try {
    return JSON.parse(json);
  } catch (err) {
    throw new BackendError(`${what}: the server's answer is no JSON (${(err as Error).message})`, { cause: err });
  }
}

const isSize = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * The items of a listing's reply body, in the order sent. Missing `directory` and `atime` fields
 * are false and 0; names are passed on unchecked (the caller decides what it can use). A body that
 * is no JSON array of entries with a string name, a size, a boolean directory and a finite atime is
 * a BackendError: a peer that is no borgstore server must not make up items.
 */
export function decodeList(json: string, what = "list"): ItemInfo[] {
  const entries = parseReply(json, what);
  if (!Array.isArray(entries)) throw new BackendError(`${what}: the server sent no JSON array`);
  return entries.map((entry, index) => {
    const e = entry as Record<string, unknown> | null;
    const bad = (field: string) => new BackendError(`${what}: entry ${index} of the server's answer has no valid ${field}`);
    if (typeof e !== "object" || e === null || Array.isArray(e) || typeof e.name !== "string") throw bad("name");
    const { name, size, directory = false, atime = 0 } = e;
    if (!isSize(size)) throw bad("size");
    if (typeof directory !== "boolean") throw bad("directory");
    if (typeof atime !== "number" || !Number.isFinite(atime)) throw bad("atime");
    return { name, exists: true, size, directory, atime };
  });
}

/** The reply body of `?cmd=quota`. */
export function encodeQuota(quota: QuotaInfo): string {
  return `{"limit": ${Math.trunc(quota.limit)}, "usage": ${Math.trunc(quota.usage)}}`;
}

/** The limit and usage of a `?cmd=quota` reply body (-1 each without a quota); BackendError unless both are integers ≥ -1. */
export function decodeQuota(json: string, what = "quota"): QuotaInfo {
  const quota = parseReply(json, what) as Record<string, unknown> | null;
  const valid = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= -1;
  if (typeof quota !== "object" || quota === null || !valid(quota.limit) || !valid(quota.usage))
    throw new BackendError(`${what}: the server's answer is no {"limit", "usage"} of integers`);
  return { limit: quota.limit, usage: quota.usage };
}

/** The request body of `?cmd=defrag`: the source triples as the reference client sends them. */
export function encodeDefragSources(sources: readonly DefragSource[]): string {
  return `[${sources.map(([name, offset, size]) => `[${pythonJsonString(name)}, ${offset}, ${size}]`).join(", ")}]`;
}

/**
 * The source triples of a `?cmd=defrag` request body; InvalidArgument unless it is a JSON array of
 * [name, offset, size] with a string name, integer offset and non-negative integer size.
 */
export function decodeDefragSources(body: Uint8Array): DefragSource[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch (cause) {
    throw new InvalidArgument(cause instanceof Error ? cause.message : "invalid JSON", { cause });
  }
  const valid =
    Array.isArray(parsed) &&
    parsed.every(
      (s) =>
        Array.isArray(s) &&
        s.length === 3 &&
        typeof s[0] === "string" &&
        Number.isSafeInteger(s[1]) &&
        Number.isSafeInteger(s[2]) &&
        s[2] >= 0,
    );
  if (!valid) throw new InvalidArgument("defrag sources must be a JSON array of [name, offset, size] triples");
  return parsed as DefragSource[];
}
