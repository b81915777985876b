import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { PERMISSION_SHORTCUTS } from "@borgstore/core";
import { backendFromServerUrl } from "../src/backend-url.js";
import { PermissionView } from "../src/hosting/permission-view.js";
import { UserUsage } from "../src/hosting/usage.js";
import { UsageLayer, measure } from "../src/hosting/usage-layer.js";

// The usage layer's figures under changes of the same names started in the same turn of the event
// loop (a name's first change starts at once, the ones behind it wait for their turn): whatever
// order they end in, the figures equal a listing of the store afterwards.

const folders: string[] = [];

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

async function openLayer(): Promise<UsageLayer> {
  const folder = mkdtempSync(join(tmpdir(), "usage-layer-"));
  folders.push(folder);
  const layer = new UsageLayer(await backendFromServerUrl(`file://${folder}/repo`), new UserUsage("alice").repo("repo"), () => ({}), async () => {});
  await layer.create();
  await layer.open();
  return layer;
}

/** A seeded generator (mulberry32): the same rounds on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Settles like `work`, a refusal of a name found missing (delete, move) counted as done. */
async function tolerateMissing(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (err) {
    if ((err as { code?: string }).code !== "OBJECT_NOT_FOUND") throw err;
  }
}

describe("usage layer", () => {
  it("keeps exact figures when stores, deletes and moves of the same few names all start in one turn", async () => {
    const layer = await openLayer();
    const random = seeded(16);
    // Two spellings of one file take one turn ("data//a" is "data/a").
    const names = ["data/a", "data//a", "data/b", "data/c"];
    for (let round = 0; round < 40; round++) {
      const changes: Array<Promise<void>> = [];
      for (let i = 0; i < 24; i++) {
        const name = names[Math.floor(random() * names.length)] as string;
        const roll = random();
        if (roll < 0.6) changes.push(layer.store(name, new Uint8Array(1 + Math.floor(random() * 3000))));
        else if (roll < 0.85) changes.push(tolerateMissing(layer.delete(name)));
        else changes.push(tolerateMissing(layer.move(name, names[Math.floor(random() * names.length)] as string)));
      }
      await Promise.all(changes);
      expect({ round, ...(await measure(layer)) }).toEqual({ round, bytes: layer.usage.bytes, objects: layer.usage.objects });
    }
    await layer.close();
  });

  it("keeps exact figures when an append-only view and an owner store the same names in one turn", async () => {
    const layer = await openLayer();
    const appendOnly = new PermissionView(layer, PERMISSION_SHORTCUTS["borgbackup-no-delete"]);
    const random = seeded(7);
    for (let round = 0; round < 30; round++) {
      const changes: Array<Promise<unknown>> = [];
      for (let i = 0; i < 16; i++) {
        const name = `data/n${Math.floor(random() * 3)}-${round % 5}`;
        const value = new Uint8Array(1 + Math.floor(random() * 2000));
        // Append-only refuses a different value where one is stored: that refusal is expected here.
        if (random() < 0.5) changes.push(appendOnly.store(name, value).catch((err: { code?: string }) => expect(err.code).toBe("PERMISSION_DENIED")));
        else if (random() < 0.8) changes.push(layer.store(name, value));
        else changes.push(tolerateMissing(layer.delete(name)));
      }
      await Promise.all(changes);
      expect({ round, ...(await measure(layer)) }).toEqual({ round, bytes: layer.usage.bytes, objects: layer.usage.objects });
    }
    await layer.close();
  });

  it("append-only streams: a wrong size or SHA-256, or an abort mid-upload, stores nothing; the identical value again is a success, a different one refused", async () => {
    const layer = await openLayer();
    const view = new PermissionView(layer, PERMISSION_SHORTCUTS["borgbackup-no-delete"]);
    const value = Buffer.alloc(3000, 7);
    const sha256 = createHash("sha256").update(value).digest("hex");
    async function* chunks(data: Buffer, beforeLast?: () => void) {
      yield data.subarray(0, 1000);
      yield data.subarray(1000, 2000);
      beforeLast?.();
      yield data.subarray(2000);
    }
    const codeOf = (work: Promise<unknown>) =>
      work.then(
        () => "stored",
        (err: { code?: string }) => err.code,
      );
    expect(await codeOf(view.storeStream("data/x", chunks(value), { size: 3000, sha256: "0".repeat(64) }))).toBe("CONTENT_HASH_MISMATCH");
    expect(await codeOf(view.storeStream("data/x", chunks(value), { size: 2999 }))).toBe("CONTENT_LENGTH_MISMATCH");
    expect(await codeOf(view.storeStream("data/x", chunks(value), { size: -1 }))).toBe("INVALID_ARGUMENT");
    const controller = new AbortController();
    expect(await codeOf(view.storeStream("data/x", chunks(value, () => controller.abort()), { size: 3000, sha256, signal: controller.signal }))).toBe("ABORTED");
    expect((await layer.info("data/x")).exists).toBe(false);
    expect({ bytes: layer.usage.bytes, objects: layer.usage.objects }).toEqual({ bytes: 0, objects: 0 });
    expect(await codeOf(view.storeStream("data/x", chunks(value), { size: 3000, sha256 }))).toBe("stored");
    expect(await codeOf(view.storeStream("data/x", chunks(value), { size: 3000, sha256 }))).toBe("stored");
    expect(await codeOf(view.store("data/x", value))).toBe("stored");
    expect(await codeOf(view.storeStream("data/x", chunks(Buffer.alloc(3000, 8)), { size: 3000 }))).toBe("PERMISSION_DENIED");
    expect(await codeOf(view.store("data/x", Buffer.alloc(3000, 8)))).toBe("PERMISSION_DENIED");
    expect(Buffer.from(await layer.load("data/x")).equals(value)).toBe(true);
    expect({ bytes: layer.usage.bytes, objects: layer.usage.objects }).toEqual({ bytes: 3000, objects: 1 });
    await layer.close();
  });
});
