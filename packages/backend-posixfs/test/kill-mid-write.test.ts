import { type ChildProcess, spawn } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { OWNED_TEMP, filesBelow, listNames, openBackend, text } from "./helpers.js";

const writer = fileURLToPath(new URL("./fixtures/slow-writer.mjs", import.meta.url));
const UPLOADS = "uploads.hid";

function startWriter(base: string, mode: string, mib: number): { child: ChildProcess; said: (word: string) => Promise<void> } {
  const child = spawn(process.execPath, [writer, base, mode, String(mib)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const waiters: Array<() => void> = [];
  child.stdout?.on("data", (d) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  const said = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (out.includes(word) ? resolve() : waiters.push(check));
      child.on("exit", () => (out.includes(word) ? resolve() : reject(new Error(`writer exited before "${word}"`))));
      check();
    });
  return { child, said };
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** Sizes of the temp files in uploads.hid (those of a dead writer no longer change). */
async function tempSizes(base: string): Promise<number[]> {
  const temps = (await readdir(join(base, UPLOADS)).catch(() => [])).filter((n) => OWNED_TEMP.test(n));
  return Promise.all(temps.map((n) => stat(join(base, UPLOADS, n)).then((s) => s.size)));
}

async function reopen(base: string): Promise<PosixFsBackend> {
  const backend = new PosixFsBackend(base);
  await backend.open();
  return backend;
}

describe("a writer killed with SIGKILL mid-write", () => {
  it("leaves the old value in place; the next open removes its temp file (streamed 64 MiB value)", async () => {
    const setup = await openBackend();
    await setup.store("ns/big", text("old"));
    await setup.close();
    const { child, said } = startWriter(setup.base, "stream", 64);
    await said("half");
    const during = (await readdir(join(setup.base, UPLOADS))).filter((n) => OWNED_TEMP.test(n));
    expect(during).toHaveLength(1);
    expect((await stat(join(setup.base, UPLOADS, during[0] as string))).size).toBeGreaterThan(0);
    // An open while the writer lives leaves its upload alone (the writer holds its owner's lock).
    const before = await readdir(join(setup.base, UPLOADS));
    await (await reopen(setup.base)).close();
    expect(await readdir(join(setup.base, UPLOADS))).toEqual(before);
    await kill(child);
    const backend = await reopen(setup.base);
    expect(await backend.load("ns/big")).toEqual(text("old"));
    expect(await listNames(backend, "ns")).toEqual(["big"]);
    expect(await filesBelow(setup.base)).toEqual(["ns/big"]);
    await backend.close();
  });

  it("never shows a partial object and leaves no temp file (one 256 MiB store() killed while its temp file grows)", async () => {
    const setup = await openBackend();
    await setup.mkdir("ns");
    await setup.close();
    const { child, said } = startWriter(setup.base, "store", 256);
    await said("storing");
    const total = 256 * 1024 * 1024;
    for (let i = 0; i < 5000 && child.exitCode === null; i++) {
      const [size = 0] = await tempSizes(setup.base);
      if (size > 0 && size < total) break;
      await new Promise((r) => setImmediate(r));
    }
    await kill(child);
    // The kill landed while the temp file was partly written (else this test proved nothing): the
    // writer died of it, and its temp file, which no longer changes, holds part of the value.
    expect(child.signalCode, "the writer finished before it could be killed").toBe("SIGKILL");
    const [partial, ...more] = await tempSizes(setup.base);
    expect(more).toEqual([]);
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(total);
    const backend = await reopen(setup.base);
    // ... so the rename had not happened: nothing visible, never a part, and no temp file left.
    expect((await backend.info("ns/big")).exists).toBe(false);
    expect(await listNames(backend, "ns")).toEqual([]);
    expect(await filesBelow(setup.base)).toEqual([]);
    await backend.close();
  }, 30_000);
});
