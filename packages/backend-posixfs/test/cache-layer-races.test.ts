import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { setTimeout as sleep } from "node:timers/promises";
import { type Backend, type CacheMode, type LoadOptions, MemoryBackend, ObjectNotFound } from "@borgstore/core";
import { CacheLayer } from "@borgstore/core/backend";
import { afterAll, describe, expect, it } from "vitest";

// Stores, deletes, loads and evictions of the same names, all at once, through the cache layer
// over real files (and over memory): the cache must never serve a value older than an
// acknowledged store or delete, and must end up agreeing with the primary.
const root = mkdtempSync(join(tmpdir(), "borgstore-cache-races-"));
let n = 0;
afterAll(() => rm(root, { recursive: true, force: true }));

const random = (below: number) => Math.floor(Math.random() * below);

/**
 * Memory whose calls take a random 0–2 ms after reading and before writing, as a network store's
 * do: a load can return an old value after a store of a new one was acknowledged.
 */
class JitteryMemory extends MemoryBackend {
  protected override async _load(name: string, options: LoadOptions): Promise<Uint8Array> {
    try {
      return await super._load(name, options);
    } finally {
      await sleep(random(3)); // a missing name too, or readers of one would starve the writers' timers
    }
  }
  protected override async _store(name: string, value: Uint8Array): Promise<void> {
    await sleep(random(3));
    await super._store(name, value);
  }
  protected override async _delete(name: string): Promise<void> {
    await sleep(random(3));
    await super._delete(name);
  }
}

const kinds: Record<string, () => Backend> = {
  posixfs: () => new PosixFsBackend(join(root, `s${n++}`)),
  "memory with jitter": () => new JitteryMemory(),
};
const NAMES = ["data/00000000", "data/00000001", "data/00000002"];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function openLayer(kind: string, mode: CacheMode): Promise<CacheLayer> {
  const make = kinds[kind] as () => Backend;
  const warnings: string[] = [];
  const layer = new CacheLayer(make(), {
    cache: make(),
    policies: [{ namespace: "", cache: mode }],
    logger: { warn: (message) => void warnings.push(message) },
  });
  await layer.create();
  await layer.open();
  return layer;
}

/** Loads `name`, or undefined when it is missing. */
async function loadOrMissing(backend: Backend, name: string): Promise<string | undefined> {
  try {
    return decoder.decode(await backend.load(name));
  } catch (err) {
    if (err instanceof ObjectNotFound) return undefined;
    throw err;
  }
}


describe.each(Object.keys(kinds))("cache layer over %s under concurrent use of the same names", (kind) => {
  it.each(["writethrough", "mirror"] as const)(
    "%s: a load never returns a value older than the last store or delete acknowledged before it started",
    async (mode) => {
      const layer = await openLayer(kind, mode);
      // One writer per name, so its mutations are ordered: version k is a store of "name#k" or a delete.
      const history = new Map(NAMES.map((name) => [name, { kinds: ["missing"] as string[], acked: 0, invoked: 0 }]));
      let writing = true;
      const writer = async (name: string) => {
        const h = history.get(name) as { kinds: string[]; acked: number; invoked: number };
        for (let k = 1; k <= 80; k++) {
          const del = k % 5 === 0 && h.kinds[k - 1] === "store";
          h.kinds[k] = del ? "delete" : "store";
          h.invoked = k;
          if (del) await layer.delete(name);
          else await layer.store(name, encoder.encode(`${name}#${k}`));
          h.acked = k;
        }
      };
      const problems: string[] = [];
      const reader = async () => {
        while (writing) {
          const name = NAMES[random(NAMES.length)] as string;
          const h = history.get(name) as { kinds: string[]; acked: number; invoked: number };
          const low = h.acked;
          const value = await loadOrMissing(layer, name);
          const high = h.invoked;
          const window = h.kinds.slice(low, high + 1);
          if (value === undefined) {
            if (!window.some((kind) => kind === "delete" || kind === "missing"))
              problems.push(`${name}: missing, but versions ${low}…${high} are all stores`);
          } else {
            const version = Number(value.split("#")[1]);
            if (version < low || version > high) problems.push(`${name}: got version ${version}, expected ${low}…${high}`);
          }
        }
      };
      const evicter = async () => {
        while (writing) {
          await layer.invalidate({ key: NAMES[random(NAMES.length)] as string });
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const readers = [reader(), reader(), reader(), reader(), evicter()];
      await Promise.all(NAMES.map(writer));
      writing = false;
      await Promise.all(readers);
      expect(problems).toEqual([]);
      for (const name of NAMES) expect(await loadOrMissing(layer, name)).toBe(await loadOrMissing(layer.inner, name));
      expect(layer.stats).toMatchObject({ disabled: false, errors: 0 });
      await layer.close();
    },
  );

  it("writethrough: after concurrent stores and deletes of one name by many writers, the cache agrees with the primary", async () => {
    const layer = await openLayer(kind, "writethrough");
    for (let round = 0; round < 12; round++) {
      await Promise.all(
        Array.from({ length: 8 }, async (_, writer) => {
          for (const name of NAMES) {
            if (random(4) === 0) await layer.delete(name).catch((err) => expect(err).toBeInstanceOf(ObjectNotFound));
            else await layer.store(name, encoder.encode(`${name}@${round}.${writer}`));
            if (random(2) === 0) await loadOrMissing(layer, name);
          }
        }),
      );
      for (const name of NAMES) {
        const primary = await loadOrMissing(layer.inner, name);
        const cached = await loadOrMissing(layer.cache as Backend, name);
        if (cached !== undefined) expect(`${name} round ${round}: cache ${cached}`).toBe(`${name} round ${round}: cache ${primary}`);
        expect(await loadOrMissing(layer, name)).toBe(primary);
      }
    }
    await layer.close();
  });
});
