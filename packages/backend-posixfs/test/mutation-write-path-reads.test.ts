import { closeSync, existsSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type HashAlgorithm, digest } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { readSized } from "../src/reads.js";
import { openBackend, tempDir } from "./helpers.js";

// reads.ts's and hash-file.ts's branches for a file that holds fewer bytes than its size says
// (found by mutation testing, session 10 of docs/mutation-testing.md): a file that shrinks while it
// is read, which a local test cannot time, is what a sysfs attribute always is (stat says 4096 bytes,
// a read gives a few); and a load in the thread pool into a caller's buffer too small for the value.

/** A sysfs attribute whose size by stat is larger than what a read gives, or undefined without one. */
function shortSysfsFile(): string | undefined {
  for (const path of ["/sys/kernel/address_bits", "/sys/kernel/profiling", "/sys/devices/system/cpu/online", "/sys/kernel/mm/transparent_hugepage/enabled"]) {
    try {
      if (existsSync(path) && statSync(path).size > readFileSync(path).byteLength) return path;
    } catch {} // unreadable here
  }
  const message = "no readable sysfs attribute (a file whose stat size exceeds its content) here: the short-file read tests cannot run";
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING ${message}\n\n`);
  return undefined;
}

const sysfsFile = shortSysfsFile();
const ALGORITHMS: HashAlgorithm[] = ["sha256", "xxh64"];

describe.skipIf(sysfsFile === undefined)("posixfs reads of a file shorter than its size (a sysfs attribute)", () => {
  it.each([true, false])("loads, ranges and hashes its bytes, never the size stat gives (syncReads: %s)", async (syncReads) => {
    const path = sysfsFile as string;
    const content = readFileSync(path);
    const backend = await openBackend({ syncReads });
    symlinkSync(path, join(backend.base, "attr"));
    expect(Buffer.from(await backend.load("attr")).equals(content)).toBe(true);
    expect(Buffer.from(await backend.load("attr", { into: new Uint8Array(8192) })).equals(content)).toBe(true);
    expect(Buffer.from(await backend.load("attr", { offset: 0, size: 100 })).equals(content)).toBe(true);
    expect(Buffer.from(await backend.load("attr", { offset: 1, size: 100, into: new Uint8Array(8192) })).equals(content.subarray(1))).toBe(true);
    for (const algorithm of ALGORITHMS) expect(await backend.hash("attr", algorithm), algorithm).toBe(await digest(algorithm, content));
    await backend.close();
  });
});

describe("posixfs reads into a caller's buffer and past a file's end", () => {
  it("a whole load in the pool into a buffer that holds the first read but not the value keeps the first read's bytes", async () => {
    const backend = await openBackend({ syncReads: false });
    const value = Uint8Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, i) => (i * 13 + 1) & 255);
    await backend.store("v", value);
    for (const intoSize of [64 * 1024, 100 * 1024, 2 * 1024 * 1024]) {
      const loaded = await backend.load("v", { into: new Uint8Array(intoSize) });
      expect(Buffer.compare(loaded, value), `into ${intoSize} bytes`).toBe(0);
    }
    await backend.close();
  });

  it.each([true, false])("readSized asked for more than the file holds returns the bytes there are, small and split (sync: %s)", async (sync) => {
    const dir = tempDir();
    for (const [fileSize, asked] of [
      [10, 100],
      [1000, 64 * 1024],
      [1.5 * 1024 * 1024, 3 * 1024 * 1024],
    ] as const) {
      const value = Uint8Array.from({ length: fileSize }, (_, i) => (i * 7 + 3) & 255);
      const path = join(dir, `f${fileSize}`);
      writeFileSync(path, value);
      const fd = openSync(path, "r");
      try {
        const got = await readSized(fd, asked, sync);
        expect(Buffer.compare(got, value), `${fileSize} of ${asked}`).toBe(0);
      } finally {
        closeSync(fd);
      }
    }
  });
});
