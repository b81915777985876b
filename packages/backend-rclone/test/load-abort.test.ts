import { readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isBorgStoreError } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { localRoot } from "./remotes.js";

/** This process's established TCP connections to `port` on loopback (their socket inodes, from /proc). */
function connectionsTo(port: number): Set<string> {
  const ours = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) ours.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const found = new Set<string>();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // rem_address is HEX_IP:HEX_PORT, st 01 = ESTABLISHED, the inode is field 9.
    if (f.length > 9 && Number.parseInt(f[2]?.split(":")[1] ?? "", 16) === port && f[3] === "01" && ours.has(f[9] ?? "")) found.add(f[9] as string);
  }
  return found;
}

async function until(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return condition();
}

describe("an aborted load (rclone's file serving)", () => {
  it("rejects with ABORTED mid-body and closes its connection to rcd (no socket left open or kept busy)", async () => {
    const disk = join(localRoot(), `abort-${process.pid}`);
    const backend = new RcloneBackend({ remote: `:local:${disk}` });
    await backend.create();
    await backend.open();
    try {
      // Written straight to the disk: 128 MiB take rclone far longer to serve than the abort below.
      writeFileSync(join(disk, "big"), Buffer.alloc(128 * 1024 * 1024, 7));
      await backend.info("big");
      const port = Number(new URL(backend.rcdUrl as string).port);
      const before = connectionsTo(port);
      const opened = () => [...connectionsTo(port)].filter((inode) => !before.has(inode));
      const controller = new AbortController();
      const loading = backend.load("big", { signal: controller.signal });
      expect(await until(() => opened().length > 0), "the read opened a connection of its own").toBe(true);
      const reads = opened();
      controller.abort();
      const err = await loading.catch((e: unknown) => e);
      expect(isBorgStoreError(err, "ABORTED")).toBe(true);
      const stillOpen = () => reads.filter((inode) => connectionsTo(port).has(inode));
      expect(await until(() => stillOpen().length === 0), "the read's connection was closed").toBe(true);
      expect((await backend.load("big", { offset: -3 })).byteLength, "the backend still loads afterwards").toBe(3);
    } finally {
      await backend.close();
      await backend.destroy();
    }
  }, 60_000);
});
