import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PosixFsBackend, type PosixFsOptions } from "@borgstore/backend-posixfs";
import { afterAll } from "vitest";

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
