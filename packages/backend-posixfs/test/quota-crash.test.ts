import { type ChildProcess, spawn } from "node:child_process";
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { describe, expect, it } from "vitest";
import { createdBase } from "./helpers.js";

const writer = fileURLToPath(new URL("./fixtures/quota-crash-writer.mjs", import.meta.url));
const QUOTA = 1_000_000;

/** A writer process; `acked` collects the names it reported stored. */
function startWriter(base: string, size: number, prefix: string, mode = "store") {
  const child = spawn(process.execPath, [writer, base, String(QUOTA), String(size), prefix, mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const acked: string[] = [];
  let out = "";
  let wake = () => {};
  child.stdout?.on("data", (d) => {
    out += d;
    const lines = out.split("\n");
    out = lines.pop() ?? "";
    for (const line of lines) if (line.startsWith("ack ")) acked.push(line.slice(4));
    if (lines.includes("full")) wake();
  });
  const full = new Promise<void>((resolve, reject) => {
    wake = resolve;
    child.once("exit", (code, signal) => reject(new Error(`writer exited (${code ?? signal}) before the quota was full`)));
  });
  full.catch(() => undefined); // awaited only by the tests that wait for it
  return { child, acked, full };
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** Bytes of the objects below `dir` (our bookkeeping and temp files left out). */
async function objectBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.endsWith(".hid") || entry.name.endsWith(".tmp")) continue;
    if (entry.parentPath.includes("uploads.hid")) continue;
    total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

describe("posixfs quota across SIGKILL", () => {
  it.each([
    ["store", 16 * 1024],
    ["stream", 100 * 1024],
  ])("three rounds of 'fill the quota (%s), SIGKILL' never store more than the quota", async (mode, size) => {
    const base = await createdBase();
    for (let round = 0; round < 3; round++) {
      const writerProcess = startWriter(base, size, `r${round}`, mode);
      await writerProcess.full;
      await killHard(writerProcess.child);
      // Stored bytes stay within the quota plus at most one object in flight at the kill.
      expect(await objectBytes(base)).toBeLessThanOrEqual(QUOTA + size);
    }
    const backend = new PosixFsBackend({ path: base, quota: QUOTA });
    await backend.open();
    const { usage } = await backend.quota();
    expect(usage).toBeGreaterThanOrEqual(await objectBytes(base));
    expect(usage).toBeLessThanOrEqual(QUOTA);
    await backend.close();
  }, 30_000);

  it("a writer killed at a random moment loses no acknowledged store and leaves quota.hid (once reopened) at least the bytes on disk", async () => {
    const base = await createdBase();
    let overcount = 0;
    for (let round = 0; round < 4; round++) {
      const writerProcess = startWriter(base, 4096, `r${round}`);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
      await killHard(writerProcess.child);
      const backend = new PosixFsBackend({ path: base, quota: QUOTA });
      await backend.open();
      for (const name of writerProcess.acked) expect((await backend.info(name)).size).toBe(4096);
      const onDisk = await objectBytes(base);
      expect((await backend.quota()).usage).toBeGreaterThanOrEqual(onDisk);
      // Each kill overcounts by the object in flight at it at most (the writer stores one at a
      // time); an overcount stays (the safe side), so the rounds' add up.
      const { usage } = await backend.quota();
      expect(usage - onDisk).toBeLessThanOrEqual(overcount + 4096);
      overcount = usage - onDisk;
      expect(Number(await readFile(join(base, "quota.hid"), "latin1"))).toBeGreaterThanOrEqual(onDisk);
      await backend.close();
    }
  }, 30_000);

  it("an open without a quota deletes quota.hid and a dead session's journal (the next quota open rescans)", async () => {
    const base = await createdBase();
    const writerProcess = startWriter(base, 16 * 1024, "dead");
    await writerProcess.full;
    await killHard(writerProcess.child);
    // quota.hid and the journal (and uploads.hid, which the killed writer could not remove at close).
    expect((await readdir(base)).filter((n) => n.endsWith(".hid") && n !== "uploads.hid")).toHaveLength(2);
    const unlimited = new PosixFsBackend({ path: base });
    await unlimited.open();
    await unlimited.close();
    expect((await readdir(base)).filter((n) => n.endsWith(".hid"))).toEqual([]);
    const backend = new PosixFsBackend({ path: base, quota: QUOTA });
    await backend.open();
    expect((await backend.quota()).usage).toBe(await objectBytes(base));
    await backend.close();
  }, 30_000);

  it("a live session adds a dead session's journal to quota.hid at its next persist", async () => {
    const base = await createdBase();
    const live = new PosixFsBackend({ path: base, quota: QUOTA });
    await live.open();
    const writerProcess = startWriter(base, 16 * 1024, "dead");
    await writerProcess.full;
    await killHard(writerProcess.child);
    await live.persistQuota();
    expect(Number(await readFile(join(base, "quota.hid"), "latin1"))).toBeGreaterThanOrEqual(await objectBytes(base));
    expect((await live.quota()).usage).toBeGreaterThanOrEqual(await objectBytes(base));
    expect((await readdir(base)).filter((n) => n.startsWith("quota-session-"))).toHaveLength(1);
    await live.close();
    expect((await readdir(base)).filter((n) => n.startsWith("quota-session-"))).toEqual([]);
  }, 30_000);
});
