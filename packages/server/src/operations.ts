import type { IncomingMessage } from "node:http";
import {
  type Backend,
  ErrorCodes,
  type HashAlgorithm,
  type LoadOptions,
  type SizedByteSource,
  ObjectNotFound,
  collectBytes,
  isBorgStoreError,
} from "@borgstore/core";
import { resolveRange, receiveWhole } from "@borgstore/core/backend";
import {
  HEADERS,
  decodeDefragSources,
  encodeList,
  encodeQuota,
  formatContentRange,
  parseRange,
  pythonFloat,
} from "@borgstore/core/rest-protocol";
import type { BackendHost } from "./backend-host.js";
import { coalesce } from "./coalesce.js";
import type { BufferPool, MemoryBudget } from "./memory-budget.js";
import { HttpError } from "./http-error.js";
import { type ReplyContext, requestBody, sendBody, sendHead, sendStream } from "./reply.js";
import { type RequestTarget, queryValue } from "./request-target.js";
import { responseDone } from "./request-signal.js";
import { uploadChunks } from "./upload-chunks.js";

/** Everything one request's operation needs. */
export interface Operation {
  host: BackendHost;
  reply: ReplyContext;
  target: RequestTarget;
  /** Largest object a store may upload (413 above), if limited. */
  maxObjectSize?: number;
  /** Memory for values held whole (larger ones stream). */
  budget: MemoryBudget;
  /** Reusable buffers for uploads held whole (the backend's store() is done with them when it returns). */
  pool?: BufferPool;
}

/** Values up to this size are always held whole (a read, a write); bounded by the connection limit. */
const ALWAYS_WHOLE = 64 * 1024;
/**
 * Values up to this size are held whole while the memory budget allows; larger ones stream
 * (for a backend that does not gather chunks: see store). Streaming a 16 MiB value in 512 KiB
 * pieces cost 1.5-2× the server CPU of holding it whole (measured with the Python client); the
 * budget (64 MiB by default) still bounds what all requests hold at once.
 */
const WHOLE_LIMIT = 16 * 1024 * 1024;

/**
 * Runs `use` with `bytes` reserved from the budget when the value should be held whole, or with
 * false when it should stream.
 */
async function withWholeBody<T>(op: Operation, bytes: number, use: (whole: boolean) => Promise<T>): Promise<T> {
  if (bytes <= ALWAYS_WHOLE) return use(true);
  if (bytes > WHOLE_LIMIT || !op.budget.tryReserve(bytes)) return use(false);
  try {
    return await use(true);
  } finally {
    op.budget.release(bytes);
  }
}
/** Largest JSON source list a defrag request may send. */
const DEFRAG_BODY_LIMIT = 16 * 1024 * 1024;
/** Memory a parsed source list takes per byte of its JSON (measured: ~9 for minimal triples). */
const SOURCE_LIST_EXPANSION = 10;

const OCTETS = "application/octet-stream";

/** POST dispatch, in the reference's order (docs/rest-protocol.md#dispatch). */
export async function post(op: Operation): Promise<void> {
  const { host, reply, target } = op;
  const { name, query } = target;
  const { signal } = reply;
  const cmd = queryValue(query, "cmd");
  if (cmd === "create") {
    // Refused before waiting: a client without the right must not hold up the others.
    host.backend.checkLifecyclePermission("create");
    await host.alone((b) => b.create(), undefined, signal);
    return sendBody(reply, 200, undefined);
  }
  if (cmd === "move") {
    const current = queryValue(query, "current");
    const next = queryValue(query, "new");
    if (current === undefined || next === undefined) throw new HttpError(400, "Missing current or new name for move");
    await host.changing([current, next], (b) => b.move(current, next, { signal }), signal);
    return sendBody(reply, 200, undefined);
  }
  if (cmd === "mkdir") {
    await host.use((b) => b.mkdir(name, { signal }), signal);
    return sendBody(reply, 200, undefined);
  }
  if (cmd === "hash") {
    if (name === "") throw new HttpError(400, "Missing name for hash");
    // Any name passes through: core answers an unknown one with UNSUPPORTED_HASH_ALGORITHM (400).
    const algorithm = (queryValue(query, "algorithm") ?? "sha256") as HashAlgorithm;
    const digest = await host.use((b) => b.hash(name, algorithm, { signal }), signal);
    return sendBody(reply, 200, digest, "text/plain");
  }
  if (cmd === "quota") {
    const quota = await host.use((b) => b.quota({ signal }), signal);
    return sendBody(reply, 200, encodeQuota(quota), "application/json");
  }
  if (cmd === "defrag") return defrag(op);
  if (name !== "") return store(op);
  throw new HttpError(400, "Bad Request");
}

/**
 * Stores the body; size and X-Content-hash-sha256 are checked before the object becomes visible.
 * A backend that gathers chunks itself (posixfs) gets a large body's chunks as they arrive. For
 * others, a body held whole is checked here, then stored in one write; a streamed one goes to
 * storeStream, which checks at the end of the stream.
 */
async function store(op: Operation): Promise<void> {
  const { incoming } = op.reply;
  const size = announcedLength(incoming);
  if (op.maxObjectSize !== undefined && size > op.maxObjectSize)
    throw new HttpError(413, `Object too large: ${size} > ${op.maxObjectSize} bytes`);
  const expected = incoming.headers[HEADERS.contentHash.toLowerCase()];
  const sha256 = typeof expected === "string" && expected !== "" ? expected : undefined;
  const { name } = op.target;
  const { signal } = op.reply;
  // Permission first, before any of the body is read: a refused client gets its 403 at once.
  try {
    await op.host.use((b) => b.checkStorePermission(name, { signal }), signal);
  } catch (err) {
    if (isBorgStoreError(err, ErrorCodes.PERMISSION_DENIED)) op.reply.bodyRefused = true;
    throw err;
  }
  if (size > ALWAYS_WHOLE && op.host.backend.capabilities.gathersChunks) {
    // The body's chunks go to the backend as they arrive, uncopied, and it writes them while they
    // arrive; storeStream checks the length and SHA-256 before anything becomes visible.
    await op.host.changing([name], (b) => b.storeStream(name, uploadChunks(requestBody(op.reply)), { size, sha256, signal }), signal);
    return sendBody(op.reply, 200, undefined);
  }
  await withWholeBody(op, size, async (whole) => {
    if (!whole)
      return op.host.changing([name], (b) => b.storeStream(name, coalesce(requestBody(op.reply), 512 * 1024), { size, sha256, signal }), signal);
    // Uploads above ALWAYS_WHOLE land in a pooled buffer, given back once store() has returned
    // (a backend may not keep the value: the caller may reuse it, core's contract). After a
    // failure it is left to the GC, in case something still writes from it.
    const into = size > ALWAYS_WHOLE ? op.pool?.take(size) : undefined;
    const value = await receiveWhole(requestBody(op.reply), size, sha256, into);
    await op.host.changing([name], (b) => b.store(name, value, { signal }), signal);
    if (into !== undefined) op.pool?.give(into);
  });
  sendBody(op.reply, 200, undefined);
}

async function defrag(op: Operation): Promise<void> {
  const { query } = op.target;
  const levelsText = queryValue(query, "levels") ?? "0";
  if (!/^\s*[+-]?\d+\s*$/.test(levelsText)) throw new HttpError(400, `invalid literal for int() with base 10: '${levelsText}'`);
  const levels = Number(levelsText.trim());
  const target = queryValue(query, "target");
  const algorithm = queryValue(query, "algorithm") as HashAlgorithm | undefined;
  const namespace = queryValue(query, "namespace");
  if (target === undefined && algorithm === undefined) throw new HttpError(400, "Missing target or algorithm for defrag");
  // Before the body is read: a client that may not write there costs nothing but this answer.
  op.host.backend.checkDefragTarget({ target, algorithm, namespace, levels });
  const { signal } = op.reply;
  const result = await withSourceListMemory(op, async (listBytes) => {
    const sources = decodeDefragSources(await readSmallBody(op.reply, DEFRAG_BODY_LIMIT));
    const size = sources.reduce((total, [, , bytes]) => total + bytes, 0);
    if (op.maxObjectSize !== undefined && size > op.maxObjectSize)
      throw new HttpError(413, `Object too large: ${size} > ${op.maxObjectSize} bytes`);
    const defrag = (b: Backend) => withDefragMemory(op, b, size, listBytes, () => b.defrag(sources, { target, algorithm, namespace, levels, signal }));
    return target === undefined ? op.host.use(defrag, signal) : op.host.changing([target], defrag, signal);
  });
  sendBody(op.reply, 200, result, "text/plain");
}

/**
 * Core's defrag streams range by range; a backend without native streaming holds a range and the
 * whole result in memory, so it must fit the memory budget (413 if it never can, 503 while busy).
 */
async function withDefragMemory<T>(op: Operation, b: Backend, size: number, listBytes: number, run: () => Promise<T>): Promise<T> {
  if (b.capabilities.streaming) return run();
  const bytes = 2 * size;
  if (bytes + listBytes > op.budget.limit) throw new HttpError(413, `Defrag result too large for this server's memory: ${size} bytes`);
  if (!op.budget.tryReserve(bytes))
    throw new HttpError(503, "Service Unavailable: memory budget in use, retry later", { "Retry-After": "1" });
  try {
    return await run();
  } finally {
    op.budget.release(bytes);
  }
}

/**
 * Reserves the memory a source list takes from before it is read until the defrag is done (the
 * parsed arrays take several times the JSON's bytes): concurrent lists can't add up beyond the
 * budget (503 while it is taken), and a list that could never fit it is refused (413) unread.
 */
async function withSourceListMemory<T>(op: Operation, run: (listBytes: number) => Promise<T>): Promise<T> {
  const length = announcedLength(op.reply.incoming);
  if (length > DEFRAG_BODY_LIMIT) throw new HttpError(413, `Request body too large: ${length} > ${DEFRAG_BODY_LIMIT} bytes`);
  const bytes = SOURCE_LIST_EXPANSION * length;
  if (bytes > op.budget.limit)
    throw new HttpError(413, `Defrag source list too large for this server's memory: ${length} bytes of JSON (at most ${Math.floor(op.budget.limit / SOURCE_LIST_EXPANSION)})`);
  if (!op.budget.tryReserve(bytes))
    throw new HttpError(503, "Service Unavailable: memory budget in use, retry later", { "Retry-After": "1" });
  try {
    return await run(bytes);
  } finally {
    op.budget.release(bytes);
  }
}

/** DELETE dispatch (docs/rest-protocol.md#dispatch). */
export async function del(op: Operation): Promise<void> {
  const { host, reply, target } = op;
  const cmd = queryValue(target.query, "cmd");
  const { signal } = reply;
  if (cmd === "rmdir") await host.use((b) => b.rmdir(target.name, { signal }), signal);
  else if (cmd === "destroy") {
    host.backend.checkLifecyclePermission("destroy");
    await host.alone((b) => b.destroy(), undefined, signal);
  }
  else if (target.name === "") throw new HttpError(400, "Bad Request");
  else await host.changing([target.name], (b) => b.delete(target.name, { signal }), signal);
  sendBody(reply, 200, undefined);
}

/** HEAD: info as headers; 404 page headers for a missing item. */
export async function head(op: Operation): Promise<void> {
  const { name } = op.target;
  const { signal } = op.reply;
  const info = await op.host.use((b) => b.info(name, { signal }), signal);
  if (!info.exists) throw new ObjectNotFound(name);
  sendHead(op.reply, {
    "Content-Length": info.size,
    [HEADERS.isDirectory]: info.directory ? "true" : "false",
    [HEADERS.atime]: pythonFloat(info.atime),
  });
}

/**
 * GET: list for a path ending in "/", else load. A Range header gets 206 and, when the backend
 * knows the length of the value it read the slice from, `Content-Range: bytes a-b/total` (docs/rest-protocol.md#ranges): the client checks that total against the size it computed a start from.
 */
export async function get(op: Operation): Promise<void> {
  const { host, reply, target } = op;
  const { signal } = reply;
  if (target.isDirectory) {
    const body = await host.use((b) => encodeList(b.list(target.name, { signal })), signal);
    sendBody(reply, 200, body, "application/json");
    // As a load does: a client that pipelines lists and never reads must not have them all answered into memory.
    return responseDone(reply.outgoing, signal);
  }
  if (target.name === "") throw new HttpError(400, "Bad Request");
  const rangeHeader = reply.incoming.headers.range;
  const options = parseRange(rangeHeader);
  const ranged = rangeHeader !== undefined;
  const status = ranged ? 206 : 200;
  await host.use(async (b) => {
    const total = await sizeForLoad(b, target.name, signal);
    if (total !== undefined) {
      const { start, end } = resolveRange(options, total);
      const sent = await withWholeBody(op, end - start, async (whole) => {
        if (!whole) return false;
        // Read into a pooled buffer (see BufferPool): a fresh multi-MiB one costs a page fault
        // per 4 KiB it fills. Handed back only after a load that succeeded into it and a response
        // the socket has taken whole; otherwise left to the GC (a read or a write may still use it).
        const into = !ranged && end - start > ALWAYS_WHOLE ? op.pool?.take(end - start) : undefined;
        let value: Uint8Array | undefined;
        if (!ranged) sendBody(reply, status, (value = await b.load(target.name, { signal, into })), OCTETS);
        else {
          // The slice and its total from one read: info()'s total may describe an older value.
          const source = await b.loadStream(target.name, { ...options, signal });
          sendBody(reply, status, await collectBytes(source), OCTETS, contentRange(options, source));
        }
        // The budget counts the value until the socket has taken it (a slow reader holds it), or
        // the connection is gone (a response queued behind a closing one never finishes). Small
        // values wait too: returning at once let a client that pipelines GETs and never reads
        // have every request of a read chunk answered into memory (hundreds of MiB per connection).
        await responseDone(reply.outgoing, signal);
        if (into !== undefined && value?.buffer === into.buffer && reply.outgoing.writableFinished) op.pool?.give(into);
        return true;
      });
      if (sent) return;
    }
    // Large (or size unknown): stream; loadStream raises the reference's errors (404, 403 for 'r').
    // Its size belongs to the opened value: a second info() could describe a newer one.
    const source = await b.loadStream(target.name, { ...options, signal });
    const headers = ranged ? contentRange(options, source) : undefined;
    if (source.size <= ALWAYS_WHOLE) return sendBody(reply, status, await collectBytes(source), OCTETS, headers);
    await sendStream(reply, status, source, OCTETS, headers);
  }, signal);
}

/** `Content-Range` of a slice whose source knows its whole value's length; none otherwise. */
function contentRange(options: LoadOptions, source: SizedByteSource): { "Content-Range": string } | undefined {
  const { total, size } = source;
  if (total === undefined) return undefined;
  const { start } = resolveRange(options, total);
  return { "Content-Range": formatContentRange(start, size, total) };
}

/**
 * The object's size when info() may tell it; undefined when it cannot (missing object, or no
 * 'l'/'r' for info): load() then raises the error the reference would.
 */
async function sizeForLoad(b: Backend, name: string, signal: AbortSignal): Promise<number | undefined> {
  try {
    const info = await b.info(name, { signal });
    return info.exists && !info.directory ? info.size : undefined;
  } catch (err) {
    if (isBorgStoreError(err, ErrorCodes.PERMISSION_DENIED)) return undefined;
    throw err;
  }
}

/** Content-Length of the request (absent → 0, as the reference treats a POST without one). */
function announcedLength(incoming: IncomingMessage): number {
  if (incoming.headers["transfer-encoding"] !== undefined)
    throw new HttpError(411, "Length Required: send the body with a Content-Length (chunked bodies are not accepted)");
  const text = incoming.headers["content-length"];
  return text === undefined ? 0 : Number(text);
}

async function readSmallBody(reply: ReplyContext, limit: number): Promise<Uint8Array> {
  const size = announcedLength(reply.incoming);
  if (size > limit) throw new HttpError(413, `Request body too large: ${size} > ${limit} bytes`);
  return collectBytes(requestBody(reply));
}
