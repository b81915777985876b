import { createHash } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HashAlgorithm, isBorgStoreError } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { localRoot, sftpRemoteBase } from "./remotes.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array) => new TextDecoder().decode(value);

interface Place {
  /** The rclone remote spec of a fresh store. */
  remote: string;
  /** The same directory on this machine's disk. */
  disk: string;
  /** What the remote hashes itself. */
  remoteHash: string;
}

const local = localRoot();
const sftp = sftpRemoteBase();
let n = 0;
const places: Array<[string, () => Place]> = [
  ["a local directory", () => {
    const disk = join(local, `s${n++}`);
    return { remote: `:local:${disk}`, disk, remoteHash: "sha256" };
  }],
];
if (sftp)
  places.push([
    "the sftp remote",
    () => {
      const path = `rclone-semantics-${process.pid}-${n++}`;
      return { remote: sftp.remote(path), disk: join(sftp.dataDir, path), remoteHash: "md5" };
    },
  ]);

async function opened(place: Place): Promise<RcloneBackend> {
  const backend = new RcloneBackend({ remote: place.remote });
  await backend.create();
  await backend.open();
  return backend;
}

async function done(backend: RcloneBackend): Promise<void> {
  await backend.close();
  await backend.destroy();
}

describe.each(places)("rclone semantics on %s", (_, place) => {
  it("an overwrite with a value of the same size in the same second stores the new value (rclone would skip it as unchanged)", async () => {
    const p = place();
    const backend = await opened(p);
    await backend.store("x", bytes("aaaa"));
    await backend.store("x", bytes("bbbb"));
    expect(text(await backend.load("x"))).toBe("bbbb");
    await backend.store("y", bytes("cccc"));
    await backend.move("y", "x");
    expect(text(await backend.load("x"))).toBe("cccc");
    expect((await backend.info("y")).exists).toBe(false);
    await done(backend);
  });

  it("stores go through a temp name that is never listed and never left behind", async () => {
    const p = place();
    const backend = await opened(p);
    await Promise.all(Array.from({ length: 20 }, (_, i) => backend.store(`ns/k${i % 5}`, bytes(`value ${i}`))));
    expect(readdirSync(join(p.disk, "ns")).sort()).toEqual(["k0", "k1", "k2", "k3", "k4"]);
    writeFileSync(join(p.disk, "ns", "tmp0123456789abcdef.tmp"), "an upload in progress");
    const listed: string[] = [];
    for await (const item of backend.list("ns")) listed.push(item.name);
    expect(listed).toEqual(["k0", "k1", "k2", "k3", "k4"]);
    await done(backend);
  });

  it("a storeStream whose source fails leaves neither the object nor its temp upload", async () => {
    const p = place();
    const backend = await opened(p);
    await backend.store("keep", bytes("old"));
    async function* failing() {
      yield new Uint8Array(300_000).fill(1);
      throw new Error("the source broke");
    }
    await expect(backend.storeStream("keep", failing())).rejects.toThrow();
    await expect(backend.storeStream("new", failing())).rejects.toThrow();
    expect(text(await backend.load("keep"))).toBe("old");
    expect((await backend.info("new")).exists).toBe(false);
    // rclone may still be finishing the aborted upload's cleanup.
    for (let i = 0; i < 50 && readdirSync(p.disk).length > 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(readdirSync(p.disk)).toEqual(["keep"]);
    await done(backend);
  });

  it("hashes the remote offers are computed by rclone, others by streaming, with the same digests", async () => {
    const p = place();
    const backend = await opened(p);
    expect(backend.capabilities.serverSideHash).toContain(p.remoteHash);
    const value = new Uint8Array(1_500_000).map((_, i) => i % 251);
    await backend.store("h", value);
    for (const algorithm of [p.remoteHash as HashAlgorithm, "sha512", "blake2b"] as const)
      expect(await backend.hash("h", algorithm)).toBe(createHash(algorithm === "blake2b" ? "blake2b512" : algorithm).update(value).digest("hex"));
    const err = await backend.hash("missing", p.remoteHash as HashAlgorithm).catch((e) => e);
    expect(isBorgStoreError(err, "OBJECT_NOT_FOUND")).toBe(true);
    await done(backend);
  });

  it("ranges reaching past the end are cut at the end, and one starting past it is empty", async () => {
    const p = place();
    const backend = await opened(p);
    await backend.store("r", bytes("0123456789"));
    expect(text(await backend.load("r", { offset: 7, size: 100 }))).toBe("789");
    expect(text(await backend.load("r", { offset: 10 }))).toBe("");
    expect(text(await backend.load("r", { offset: 25, size: 3 }))).toBe("");
    expect(text(await backend.load("r", { offset: -100 }))).toBe("0123456789");
    expect(text(await backend.load("r", { offset: -3, size: 2 }))).toBe("78");
    const chunks: string[] = [];
    for await (const chunk of await backend.loadStream("r", { offset: -4 })) chunks.push(text(chunk));
    expect(chunks.join("")).toBe("6789");
    await done(backend);
  });
});
