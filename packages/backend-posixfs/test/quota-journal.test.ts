import { closeSync, constants, openSync } from "node:fs";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { afterEach, describe, expect, it } from "vitest";
import { bytes, newBackend } from "./helpers.js";

// A SIGKILLed quota session leaves its journal (quota-session-<12 chars>.hid, a space-padded
// decimal record of 24 bytes) unlocked; a live one holds an exclusive flock on it. These tests
// leave such files the way a dead or a live session would, in this process, so that the code that
// counts them runs where mutation testing can see it (quota-crash.test.ts kills real processes).

const { flockSync } = createRequire(import.meta.url)("fs-ext-extra-prebuilt") as { flockSync: (fd: number, flags: string) => void };
const QUOTA = 1_000_000;
const record = (text: string) => text.padEnd(24, " ");
const journals = async (base: string) => (await readdir(base)).filter((n) => n.startsWith("quota-session-")).sort();
const held: number[] = [];
afterEach(() => {
  for (const fd of held.splice(0)) closeSync(fd);
});

/** A store with 100 bytes in it and quota.hid saying so, closed. */
async function storeWith100Bytes(): Promise<string> {
  const backend = newBackend({ quota: QUOTA });
  await backend.create();
  await backend.open();
  await backend.store("x", bytes(100));
  await backend.close();
  expect(await readFile(join(backend.base, "quota.hid"), "latin1")).toBe("100");
  return backend.base;
}

async function quotaOpen(base: string): Promise<PosixFsBackend> {
  const backend = new PosixFsBackend({ path: base, quota: QUOTA });
  await backend.open();
  return backend;
}

describe("posixfs quota: journals of dead sessions", () => {
  it("the next open adds their records to the usage and removes them", async () => {
    const base = await storeWith100Bytes();
    await writeFile(join(base, "quota-session-deadsession1.hid"), record("250"));
    await writeFile(join(base, "quota-session-deadsession2.hid"), record("-30"));
    const backend = await quotaOpen(base);
    expect((await backend.quota()).usage).toBe(320);
    // Only the open session's own journal is left.
    expect(await journals(base)).toHaveLength(1);
    await backend.close();
    expect(await journals(base)).toEqual([]);
    expect(await readFile(join(base, "quota.hid"), "latin1")).toBe("320");
  });

  it("counts an unreadable record as 0, and never lets usage go below 0", async () => {
    const base = await storeWith100Bytes();
    for (const [name, text] of [
      ["garbage00001", "12abc"],
      ["fraction0001", "1.5"],
      ["huge00000001", "99999999999999999999"],
      ["empty0000001", ""],
    ] as const)
      await writeFile(join(base, `quota-session-${name}.hid`), record(text));
    const backend = await quotaOpen(base);
    expect((await backend.quota()).usage).toBe(100);
    await backend.close();
    await writeFile(join(base, "quota-session-minus0000001.hid"), record("-500"));
    const again = await quotaOpen(base);
    expect((await again.quota()).usage).toBe(0);
    await again.close();
  });

  it("leaves a live session's journal alone and does not count it; a file not named like a journal is no journal", async () => {
    const base = await storeWith100Bytes();
    const live = join(base, "quota-session-livesession1.hid");
    await writeFile(live, record("400"));
    const fd = openSync(live, constants.O_RDWR);
    held.push(fd);
    flockSync(fd, "exnb");
    await writeFile(join(base, "quota-session-tooshort.hid"), record("700"));
    const backend = await quotaOpen(base);
    expect((await backend.quota()).usage).toBe(100);
    await backend.close();
    expect(await journals(base)).toEqual(["quota-session-livesession1.hid", "quota-session-tooshort.hid"]);
  });

  it("a live session adds a dead session's journal at its next persist", async () => {
    const base = await storeWith100Bytes();
    const backend = await quotaOpen(base);
    await writeFile(join(base, "quota-session-deadsession3.hid"), record("42"));
    await backend.persistQuota();
    expect(await readFile(join(base, "quota.hid"), "latin1")).toBe("142");
    expect((await backend.quota()).usage).toBe(142);
    expect(await journals(base)).toHaveLength(1);
    await backend.close();
  });

  it("an open without a quota removes quota.hid and dead journals, unless a live session holds its journal", async () => {
    const base = await storeWith100Bytes();
    await writeFile(join(base, "quota-session-deadsession4.hid"), record("10"));
    const live = join(base, "quota-session-livesession2.hid");
    await writeFile(live, record("20"));
    const fd = openSync(live, constants.O_RDWR);
    flockSync(fd, "exnb");
    const unlimited = new PosixFsBackend({ path: base });
    await unlimited.open();
    await unlimited.close();
    expect(await journals(base)).toEqual(["quota-session-deadsession4.hid", "quota-session-livesession2.hid"]);
    expect(await readFile(join(base, "quota.hid"), "latin1")).toBe("100");
    closeSync(fd); // the live session dies
    await unlimited.open();
    await unlimited.close();
    expect((await readdir(base)).filter((n) => n.endsWith(".hid"))).toEqual([]);
  });
});
