import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ErrorCodes, type HashAlgorithm, InvalidArgument, type ItemInfo, ObjectNotFound, type Store, type StoreConfig, isBorgStoreError } from "@borgstore/core";
import { type Output, formatAtime, formatSize, longLine, printableName } from "./output.js";
import { byteProgress, countProgress } from "./progress.js";
import { writeToFile } from "./write-file.js";

/** What every command gets: an open (or, for create/destroy, closed) Store and where to print. */
export interface CommandContext {
  store: Store;
  config: StoreConfig;
  out: Output;
  progress: boolean;
  /** Fires on Ctrl-C or when stdout closes: the command stops and cleans up. */
  signal?: AbortSignal;
}

export async function infoCommand(ctx: CommandContext, name: string, opts: { deleted?: boolean }): Promise<void> {
  const info = await ctx.store.info(name, { deleted: opts.deleted });
  if (ctx.out.json) ctx.out.value({ ...info, name });
  // Scripts test `borgstore URL info NAME` for existence by its exit code (3), as with get.
  if (!info.exists) throw new ObjectNotFound(name);
  if (ctx.out.json) return;
  ctx.out.line(`name:      ${name}`);
  ctx.out.line(`type:      ${info.directory ? "directory" : "object"}`);
  ctx.out.line(`size:      ${info.size} (${formatSize(info.size)})`);
  ctx.out.line(`atime:     ${formatAtime(info.atime)}`);
}

export interface LsOptions {
  recursive?: boolean;
  long?: boolean;
  deleted?: boolean;
}

/**
 * Lists a namespace's keys (nesting directories hidden, as Store.list does), or the raw entries of
 * the root and other directories; -r descends into every directory.
 */
export async function lsCommand(ctx: CommandContext, ns: string | undefined, opts: LsOptions): Promise<void> {
  const start = (ns ?? "").replace(/\/+$/, "");
  const counter = countProgress("listing", ctx.progress);
  let first = true;
  if (ctx.out.json) process.stdout.write("[");
  const emit = (item: ItemInfo, fullName: string) => {
    counter.tick();
    if (ctx.out.json) {
      process.stdout.write(`${first ? "\n" : ",\n"}  ${JSON.stringify({ ...item, name: fullName })}`);
    } else {
      const shown = printableName(fullName);
      ctx.out.line(opts.long ? longLine(item, shown) : `${shown}${item.directory ? "/" : ""}`);
    }
    first = false;
  };
  try {
    await walk(ctx, start, opts, emit);
  } finally {
    counter.stop();
    if (ctx.out.json) process.stdout.write(first ? "]\n" : "\n]\n");
  }
}

function isConfiguredNamespace(config: StoreConfig, dir: string): boolean {
  return dir !== "" && Object.hasOwn(config, `${dir}/`);
}

async function walk(
  ctx: CommandContext,
  dir: string,
  opts: LsOptions,
  emit: (item: ItemInfo, fullName: string) => void,
): Promise<void> {
  const prefix = dir === "" ? "" : `${dir}/`;
  if (isConfiguredNamespace(ctx.config, dir) || opts.deleted) {
    try {
      for await (const item of ctx.store.list(dir, { deleted: opts.deleted, signal: ctx.signal })) emit(item, prefix + item.name);
    } catch (err) {
      // A configured namespace nothing was stored in yet has no directory on most backends: empty.
      if (!isBorgStoreError(err, ErrorCodes.OBJECT_NOT_FOUND)) throw err;
    }
    return;
  }
  const backend = ctx.store.backend;
  if (!backend) throw new Error("store backend is not resolved");
  for await (const item of backend.list(dir, { signal: ctx.signal })) {
    const fullName = prefix + item.name;
    if (item.directory && opts.recursive) {
      emit(item, fullName);
      await walk(ctx, fullName, opts, emit);
    } else {
      emit(item, fullName);
    }
  }
}

/**
 * Writes NAME's value to stdout, or to FILE by way of FILE.partial, renamed when complete (as
 * rclone does): FILE never holds a part of the value, and a failed or interrupted get removes
 * FILE.partial again and leaves an existing FILE as it was. A FIFO or device FILE is written
 * through, a symlink followed (see writeToFile).
 */
export async function getCommand(
  ctx: CommandContext,
  name: string,
  file: string | undefined,
  opts: { offset?: number; size?: number; deleted?: boolean },
): Promise<void> {
  const { signal } = ctx;
  const total = ctx.progress && file ? (await ctx.store.info(name, { deleted: opts.deleted, signal })).size : undefined;
  const source = await ctx.store.loadStream(name, { ...opts, signal });
  const progress = byteProgress(`get ${name}`, total, ctx.progress && !!file);
  if (!file || file === "-") {
    await pipeline(Readable.from(source), progress, process.stdout, { end: false });
    return;
  }
  await writeToFile(Readable.from(source), progress, file);
}

export async function putCommand(ctx: CommandContext, name: string, file: string | undefined): Promise<void> {
  const fromStdin = !file || file === "-";
  // Only a regular file's stat size is its length: a FIFO (or `<(command)`) says 0 and delivers more.
  const stats = fromStdin ? undefined : await stat(file);
  if (stats?.isDirectory()) throw new InvalidArgument(`${file} is a directory: give a file, or - for stdin`);
  const size = stats?.isFile() ? stats.size : undefined;
  const input = fromStdin ? process.stdin : createReadStream(file);
  const counted = input.pipe(byteProgress(`put ${name}`, size, ctx.progress));
  input.on("error", (err: Error) => counted.destroy(err));
  // A read error reaches storeStream through its iteration of `counted`; it must not also crash
  // the process as an 'error' event nobody listens to before that iteration starts.
  counted.on("error", () => {});
  await ctx.store.storeStream(name, counted, { size, signal: ctx.signal });
  if (ctx.out.json) ctx.out.value({ name, stored: true, size: size ?? null });
}

export async function hashCommand(
  ctx: CommandContext,
  name: string,
  opts: { algorithm?: string; deleted?: boolean },
): Promise<void> {
  // Whatever the user typed: core answers an unknown name with UNSUPPORTED_HASH_ALGORITHM.
  const algorithm = (opts.algorithm ?? "sha256") as HashAlgorithm;
  const digest = await ctx.store.hash(name, { algorithm, deleted: opts.deleted });
  if (ctx.out.json) ctx.out.value({ name, algorithm: opts.algorithm ?? "sha256", digest });
  else ctx.out.line(digest);
}

export async function quotaCommand(ctx: CommandContext): Promise<void> {
  const quota = await ctx.store.quota();
  if (ctx.out.json) return ctx.out.value(quota);
  if (quota.limit < 0) ctx.out.line(`no quota${quota.usage >= 0 ? `, usage ${formatSize(quota.usage)}` : ""}`);
  else ctx.out.line(`usage ${quota.usage} of ${quota.limit} bytes (${formatSize(quota.usage)} of ${formatSize(quota.limit)})`);
}

/** Counts items and bytes per configured namespace (walking the store), then the Store's own stats. */
export async function statsCommand(ctx: CommandContext): Promise<void> {
  const namespaces = Object.keys(ctx.config)
    .filter((ns) => ns !== "")
    .sort();
  const rows: { namespace: string; items: number; bytes: number; deletedItems: number; deletedBytes: number }[] = [];
  const counter = countProgress("counting", ctx.progress);
  for (const ns of namespaces) {
    const dir = ns.replace(/\/+$/, "");
    const row = { namespace: ns, items: 0, bytes: 0, deletedItems: 0, deletedBytes: 0 };
    const exists = (await ctx.store.backend?.info(dir))?.exists ?? false;
    if (exists) {
      for await (const item of ctx.store.list(dir)) {
        row.items++;
        row.bytes += item.size;
        counter.tick();
      }
      for await (const item of ctx.store.list(dir, { deleted: true })) {
        row.deletedItems++;
        row.deletedBytes += item.size;
        counter.tick();
      }
    }
    rows.push(row);
  }
  counter.stop();
  if (ctx.out.json) return ctx.out.value({ namespaces: rows, store: ctx.store.stats });
  ctx.out.line(`${"namespace".padEnd(12)} ${"items".padStart(10)} ${"size".padStart(12)} ${"deleted".padStart(10)}`);
  for (const r of rows)
    ctx.out.line(
      `${r.namespace.padEnd(12)} ${String(r.items).padStart(10)} ${formatSize(r.bytes).padStart(12)} ${String(r.deletedItems).padStart(10)}`,
    );
  const s = ctx.store.stats;
  ctx.out.line(`\n${s.list_calls} list calls in ${Number(s.list_time).toFixed(3)} s`);
}
