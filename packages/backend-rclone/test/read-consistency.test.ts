import { randomBytes } from "node:crypto";
import { link, rename, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LoadOptions, collectBytes } from "@borgstore/core";
import { resolveRange } from "@borgstore/core/backend";
import { describe, expect, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { localRoot, sftpRemoteBase } from "./remotes.js";

/**
 * rclone serves a file with the size of one look-up by name (Content-Length, Content-Range) and
 * the bytes of a second open by name. Renames straight on the disk, far faster than stores
 * through rclone, land between the two often enough to show any read that trusts rclone's reply.
 */
interface Place {
  remote: string;
  disk: string;
  /** How far apart two files' modification times must be for the remote to tell them apart (ms). */
  mtimeStep: number;
}
const places: Array<[string, () => Place]> = [
  ["a local directory", () => {
    const disk = join(localRoot(), "store");
    return { remote: `:local:${disk}`, disk, mtimeStep: 1 };
  }],
];
const sftp = sftpRemoteBase();
if (sftp)
  places.push([
    "the sftp remote",
    () => {
      const path = `rclone-read-consistency-${process.pid}`;
      // SFTP (v3) carries modification times in whole seconds.
      return { remote: sftp.remote(path), disk: join(sftp.dataDir, path), mtimeStep: 1000 };
    },
  ]);

const RACE_MS = 2_500;
const SOURCES = 200;
const reads: Array<{ kind: "load" | "loadStream"; options: LoadOptions }> = [
  { kind: "load", options: {} },
  { kind: "loadStream", options: {} },
  { kind: "load", options: { offset: -2_500, size: 100 } },
  { kind: "loadStream", options: { offset: -2_500, size: 100 } },
  { kind: "load", options: { offset: -2_600 } },
];

describe.each(places)("reads on %s while the file under the name is replaced again and again", (_, place) => {
  it("return the requested slice of one of the values, never bytes framed by the other's size", async () => {
    const { remote, disk, mtimeStep } = place();
    const backend = new RcloneBackend({ remote });
    await backend.create();
    await backend.open();
    // Small, so the disk writes a new version far faster than a read through rclone takes.
    const values = [randomBytes(3_000), randomBytes(4_200)];
    try {
      await backend.store("v", values[0] as Uint8Array);
      const wrong: string[] = [];
      let served = 0;
      let gaveUp = 0;
      // Renames of hard links are the fastest way to put another file under the name. As with
      // stores through rclone, which set each file's modification time to the moment of upload,
      // every file has its own modification time (as far as the remote keeps it), and a name never
      // gets back a file it held moments ago: 200 sources take turns.
      const sources: string[] = [];
      const base = Date.now() - SOURCES * mtimeStep;
      for (let i = 0; i < SOURCES; i++) {
        const path = join(disk, `.source-${i}`);
        await writeFile(path, values[i % 2] as Uint8Array);
        const mtime = new Date(base + i * mtimeStep);
        await utimes(path, mtime, mtime);
        sources.push(path);
      }
      const until = Date.now() + RACE_MS;
      const swapper = async () => {
        for (let i = 0; Date.now() < until; i++) {
          const temp = join(disk, `.swap-${i}`);
          await link(sources[i % SOURCES] as string, temp);
          await rename(temp, join(disk, "v"));
          // A pause, so a read through rclone (a few ms) often sees no swap at all.
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      };
      const reader = async () => {
        for (let i = 0; Date.now() < until; i++) {
          const { kind, options } = reads[i % reads.length] as (typeof reads)[number];
          let bytes: Uint8Array;
          try {
            bytes = kind === "load" ? await backend.load("v", options) : await collectBytes(await backend.loadStream("v", options));
          } catch (err) {
            // A typed answer to a file replaced under every attempt is a correct outcome.
            if (/was replaced during each of/.test((err as Error).message) && (err as { code?: string }).code === "BACKEND_ERROR") {
              gaveUp++;
              continue;
            }
            wrong.push(`${kind}(${JSON.stringify(options)}) failed: ${(err as Error).name} ${(err as { code?: string }).code}: ${(err as Error).message}`);
            continue;
          }
          served++;
          const fits = values.some((value) => {
            const { start, end } = resolveRange(options, value.byteLength);
            return Buffer.from(value.subarray(start, end)).equals(bytes);
          });
          if (!fits) wrong.push(`${kind}(${JSON.stringify(options)}): ${bytes.byteLength} bytes of no value`);
        }
      };
      const outcomes = await Promise.allSettled([swapper(), reader(), reader(), reader(), reader()]);
      for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
      expect(wrong.slice(0, 8)).toEqual([]);
      expect(served, `${gaveUp} reads gave up, the file replaced under each attempt`).toBeGreaterThan(0);
    } finally {
      await backend.close();
      await rm(disk, { recursive: true, force: true });
    }
  }, 60_000);
});
