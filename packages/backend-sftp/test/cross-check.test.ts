import { randomBytes } from "node:crypto";
import { chownSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import type { Backend } from "@borgstore/core";
import { expectBigValuesRoundTripThroughStore } from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { env, freshBackend, freshPath, localServer } from "./server.js";


const items: Array<[string, Uint8Array]> = [
  ["config", new TextEncoder().encode("[repository]\n")],
  ["data/00/0000aa", randomBytes(3000)],
  ["data/ff/ffff01", randomBytes(300_000)],
  ["data/ff/ffff02.del", new Uint8Array(0)],
  ["index/nested/deep/x", randomBytes(17)],
];

async function writeAll(backend: Backend): Promise<void> {
  await backend.create();
  await backend.open();
  for (const [name, value] of items) await backend.store(name, value);
  await backend.close();
}

async function readAll(backend: Backend): Promise<void> {
  await backend.open();
  try {
    for (const [name, value] of items) expect(Buffer.from(await backend.load(name)).equals(Buffer.from(value))).toBe(true);
    const root: string[] = [];
    for await (const item of backend.list("")) root.push(`${item.name}${item.directory ? "/" : ""}`);
    expect(root).toEqual(["config", "data/", "index/"]);
    const ff: string[] = [];
    for await (const item of backend.list("data/ff")) ff.push(item.name);
    expect(ff).toEqual(["ffff01", "ffff02.del"]);
    expect(await backend.hash("data/ff/ffff01")).toBe(await backend.hash("data/ff/ffff01", "sha256"));
  } finally {
    await backend.close();
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)).map((n) => `${e.name}/${n}`) : [e.name],
  );
}

// These tests read and write the sshd's directory directly, so they need the server on this machine.
describe.skipIf(!localServer)("the same on-disk layout as posixfs (docs/on-disk-format.md#posixfs-layout), checked on the sshd's disk", () => {
  it("a store written over sftp opens with posixfs on the server's disk", async () => {
    const path = freshPath("cross");
    await writeAll(freshBackend({}, path));
    const onDisk = join(env.dataDir, path);
    expect(walk(onDisk).sort()).toEqual(items.map(([n]) => n).sort()); // no temp files left
    // Stored objects are 0600 like posixfs's (the temp file's mode survives the rename).
    expect(statSync(join(onDisk, "config")).mode & 0o777).toBe(0o600);
    await readAll(new PosixFsBackend({ path: onDisk }));
  });

  it("a store written by posixfs opens over sftp", async () => {
    const path = freshPath("cross");
    const onDisk = join(env.dataDir, path);
    await writeAll(new PosixFsBackend({ path: onDisk }));
    // posixfs ran as root here; on a real server the ssh user owns its files.
    for (const rel of ["", ...walkDirs(onDisk), ...walk(onDisk)]) chownSync(join(onDisk, rel), env.uid, env.gid);
    await readAll(freshBackend({}, path));
  });

  it("10 values of 1 MiB round-trip through a Store and list in order (reference: test_scalability_big_values)", async () => {
    await expectBigValuesRoundTripThroughStore(freshBackend());
  });
});

function walkDirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [e.name, ...walkDirs(join(dir, e.name)).map((n) => `${e.name}/${n}`)]);
}
