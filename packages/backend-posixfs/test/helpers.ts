import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PosixFsBackend, type PosixFsOptions } from "@borgstore/backend-posixfs";
import { afterAll, expect } from "vitest";
// @ts-expect-error: a plain .mjs fixture shared with the writer processes
import { smallValueFor } from "./fixtures/crash-values.mjs";

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

/** A fresh temp directory removed after the test file. */
export function tempDir(prefix = "borgstore-posixfs-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  roots.push(dir);
  return dir;
}

/** A backend on a not yet existing base path inside a fresh temp directory. */
export function newBackend(options: Omit<PosixFsOptions, "path"> = {}): PosixFsBackend {
  return new PosixFsBackend({ ...options, path: join(tempDir(), "store") });
}

/** A created and opened backend. */
export async function openBackend(options: Omit<PosixFsOptions, "path"> = {}): Promise<PosixFsBackend> {
  const backend = newBackend(options);
  await backend.create();
  await backend.open();
  return backend;
}

/** The base path of a created (not opened) backend in a fresh temp directory. */
export async function createdBase(): Promise<string> {
  const backend = newBackend();
  await backend.create();
  return backend.base;
}

export async function listNames(backend: PosixFsBackend, name = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const item of backend.list(name)) names.push(item.name);
  return names;
}

/** The lock file a session that has written holds in uploads.hid until it closes (`<owner id>.lock`). */
export const OWNER_LOCK = /(^|\/)uploads\.hid\/[0-9a-f]{16}\.lock$/;

/** A session's temp file in uploads.hid: `<owner id>.tmp` + 8 of [a-z0-9_] + `.tmp`. */
export const OWNED_TEMP = /^[0-9a-f]{16}\.tmp[a-z0-9_]{8}\.tmp$/;

/**
 * Every file below `dir` as a sorted relative path (directories left out, and open sessions'
 * lock files in uploads.hid: uploads-sweep.test.ts checks that close removes them).
 */
export async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((path) => !OWNER_LOCK.test(path))
    .sort();
}

/** This process's descriptors open on files below `dir`, but for open sessions' lock files. */
export function openBelow(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`) && !OWNER_LOCK.test(target)) open.push(target);
    } catch {} // closed meanwhile (readdir's own descriptor)
  }
  return open;
}

export const bytes = (n: number, fill = 0x61): Uint8Array => new Uint8Array(n).fill(fill);
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Bytes of the values below `dir` (our .hid bookkeeping files at the top left out). */
export function bytesOnDisk(dir: string, top = true): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (top && entry.name.endsWith(".hid")) continue;
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? bytesOnDisk(path, false) : statSync(path).size;
  }
  return total;
}

/** A child process that reports its work line by line on stdout. */
export interface AckingChild {
  child: ChildProcess;
  /** Names it acknowledged ("ack NAME"), minus those it announced deleting ("del NAME"). */
  acked: Set<string>;
  /** Resolves at its "ready" line. */
  ready: Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the Node script with `args`, collecting its acknowledged names into `acked`. */
export function startAckingChild(script: string, args: string[], acked: Set<string>): AckingChild {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let rest = "";
  let isReady = () => {};
  const ready = new Promise<void>((resolve) => (isReady = resolve));
  child.stdout?.on("data", (d) => {
    const lines = (rest + d).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      if (line === "ready") isReady();
      else if (line.startsWith("ack ")) acked.add(line.slice(4));
      else if (line.startsWith("del ")) acked.delete(line.slice(4));
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, acked, ready, exit };
}

export const uploadsOf = (base: string): string => join(base, "uploads.hid");

/** The names in the store's uploads.hid, sorted ([] while it does not exist). */
export const uploadsEntries = (base: string): string[] =>
  existsSync(uploadsOf(base)) ? readdirSync(uploadsOf(base)).sort() : [];

/** The lock files in uploads.hid that process `pid` holds open. */
export function locksHeldBy(pid: number, base: string): string[] {
  const held: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith(`${uploadsOf(base)}/`) && target.endsWith(".lock")) held.push(target.slice(uploadsOf(base).length + 1));
    } catch {}
  }
  return held;
}

/**
 * Every acknowledged name holds its whole value (the fixtures' `smallValueFor`), and every object
 * on disk is whole; .hid bookkeeping left out, and with `skipTempFiles` files named *.tmp too.
 */
export async function expectAckedWhole(base: string, acked: Set<string>, { skipTempFiles = false } = {}): Promise<void> {
  const value = smallValueFor as (name: string) => Buffer;
  const skipped = (part: string) => part.endsWith(".hid") || (skipTempFiles && part.endsWith(".tmp"));
  for (const name of acked) expect((await readFile(join(base, name))).equals(value(name)), `acknowledged ${name}`).toBe(true);
  for (const entry of await readdir(base, { withFileTypes: true, recursive: true })) {
    const rel = join(entry.parentPath, entry.name).slice(base.length + 1);
    if (!entry.isFile() || rel.split("/").some(skipped)) continue;
    expect((await readFile(join(base, rel))).equals(value(rel)), `whole ${rel}`).toBe(true);
  }
}
