import { createHash } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { afterAll, describe, expect, it } from "vitest";
import { CREDENTIALS, request, type ServerProcess, startServer, tempDir } from "./helpers.js";

const QUOTA = 4_000_000;
const ROUNDS = 6;
const CLIENTS = 6;

/** The value stored under `name`: its size and bytes follow from the name, so any copy can be verified. */
function valueFor(name: string): Buffer {
  const seed = createHash("sha256").update(name).digest();
  const sizes = [1024, 10_000, 70_000, 300_000, 1_500_000];
  const size = sizes[(seed[0] as number) % sizes.length] as number;
  const value = Buffer.alloc(size);
  for (let at = 0; at < size; at += seed.length) seed.copy(value, at);
  return value;
}

/** Object files below `dir` as name → size: our bookkeeping (.hid) and temp files left out. */
async function objectsOnDisk(dir: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const rel = join(entry.parentPath, entry.name).slice(dir.length + 1);
    if (!entry.isFile() || rel.split("/").some((part) => part.endsWith(".hid") || part.endsWith(".tmp"))) continue;
    found.set(rel, (await stat(join(dir, rel))).size);
  }
  return found;
}

const sum = (sizes: Iterable<number>): number => [...sizes].reduce((a, b) => a + b, 0);

describe("server SIGKILLed at random moments under concurrent load (posixfs with quota)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  afterAll(() => dir.remove());

  it(`${ROUNDS} kills: no partial object, no acknowledged store lost, quota never below the bytes on disk, uploads cleaned`, async () => {
    const acknowledged = new Set<string>();
    let refused = 0;
    let server: ServerProcess = await startServer(["--backend", `FILE:${store}`, "--quota", String(QUOTA), "--create"], CREDENTIALS);
    for (let round = 0; round < ROUNDS; round++) {
      let running = true;
      const port = server.port;
      const clients = Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; running; i++) {
          const name = `data/r${round}c${c}i${i}`;
          // A request cut by the kill is not acknowledged: it may or may not have landed.
          const res = await request(port, "POST", `/${name}`, { body: valueFor(name) }).catch((err) => {
            if (running) throw err;
          });
          if (res?.status === 200) acknowledged.add(name);
          else if (res?.status === 507) {
            refused++;
            // Full: delete an older object to make room, so stores keep landing round after round.
            const victim = [...acknowledged].find((n) => n.endsWith(`c${c}i${(i * 7) % (i + 1)}`)) ?? [...acknowledged][c];
            if (victim === undefined) continue;
            acknowledged.delete(victim);
            const del = await request(port, "DELETE", `/${victim}`).catch((err) => {
              if (running) throw err;
            });
            if (del && del.status !== 200 && del.status !== 404) throw new Error(`delete of ${victim}: ${del.status}`);
          } else if (res) throw new Error(`store of ${name}: ${res.status} ${res.body}`);
        }
      });
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
      running = false;
      server.child.kill("SIGKILL");
      await server.exited;
      await Promise.all(clients);

      server = await startServer(["--backend", `FILE:${store}`, "--quota", String(QUOTA)], CREDENTIALS);
      const onDisk = await objectsOnDisk(store);
      // Every acknowledged store is there, whole.
      for (const name of acknowledged) expect(onDisk.get(name), name).toBe(valueFor(name).byteLength);
      // Whatever else is there (stores cut by the kill) is whole too: never a part of a value.
      for (const [name, size] of onDisk) expect(size, name).toBe(valueFor(name).byteLength);
      const sample = [...onDisk.keys()].filter((_, i) => i % 7 === 0);
      for (const name of sample) expect((await request(server.port, "GET", `/${name}`)).body.equals(valueFor(name))).toBe(true);
      const { usage, limit } = JSON.parse((await request(server.port, "POST", "/?cmd=quota")).body.toString());
      expect(limit).toBe(QUOTA);
      expect(usage).toBeGreaterThanOrEqual(sum(onDisk.values()));
      expect(sum(onDisk.values())).toBeLessThanOrEqual(QUOTA);
      // The restarted server removed the uploads the killed one left.
      expect(await readdir(join(store, "uploads.hid")).catch(() => [])).toEqual([]);
    }
    expect(await server.stop()).toBe(0);
    expect(refused).toBeGreaterThan(0);
    expect(acknowledged.size).toBeGreaterThan(ROUNDS);
    // Small values are written in place, where only age tells an orphan: check --repair's job.
    const backend = new PosixFsBackend({ path: store });
    await backend.open();
    await backend.checkFiles({ repair: true, tempMaxAge: 0 });
    expect((await backend.checkFiles()).findings).toEqual([]);
    await backend.close();
  }, 60_000);
});
